package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var staticFiles embed.FS

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFiles, "static")
	return http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
}

// page serves the map page at / and /map/{name}; the script picks the layer from the path.
func (s *api) page(w http.ResponseWriter, r *http.Request) {
	b, err := staticFiles.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, "map page missing from this build", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// workbench serves the Workbench page: an editor beside a map, for writing,
// running, saving and sharing UDFs. Its script is bundled from web/src/workbench.
func (s *api) workbench(w http.ResponseWriter, r *http.Request) {
	b, err := staticFiles.ReadFile("static/workbench.html")
	if err != nil {
		http.Error(w, "Workbench page missing from this build", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
