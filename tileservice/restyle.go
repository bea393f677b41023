package tileservice

import (
	"maps"
	"net/url"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/render"
)

// styleDefaults are the layer's default values of the parameters ParseOptions
// reads, without its colormap and rescale when the request gives a parameter
// the handler lists in Schema.Restyle (a COG layer's expression= and
// algorithm=): a DEM's colormap and 0..3000 m rescale are for its heights,
// not for a hillshade or a Terrain-RGB encoding of them. The request's own
// colormap= and rescale= still apply.
func styleDefaults(q url.Values, defaults url.Values, sch layer.Schema) url.Values {
	for _, k := range sch.Restyle {
		if q.Get(k) == "" {
			continue
		}
		out := maps.Clone(defaults)
		for _, s := range render.StyleParams {
			delete(out, s)
		}
		return out
	}
	return defaults
}
