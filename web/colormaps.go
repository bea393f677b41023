package web

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/layer"
)

func (s *api) listColormaps(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"colormaps": colormap.Names()})
}

func (s *api) getColormap(w http.ResponseWriter, r *http.Request) {
	m, err := colormap.Lookup(mux.Vars(r)["name"])
	if err != nil {
		writeError(w, r, &layer.Error{Kind: layer.NotFound, Msg: err.Error()})
		return
	}
	writeJSON(w, map[string]any{"name": m.Name(), "colors": m.Colors()})
}
