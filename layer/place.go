package layer

import (
	"math"

	"github.com/udftiles/udftiles/tiles"
)

// PlaceOnTile resamples a raster onto the size×size grid of tile t (nearest
// neighbour, so raw values survive): by its lon/lat bounds when it has them,
// else by stretching it over the whole tile.
func PlaceOnTile(r *Raster, t tiles.Tile, size int) *Raster {
	m := t.Mercator()
	if r.EPSG != 4326 && r.Width == size && r.Height == size {
		r.Widen()
		r.Bounds, r.EPSG = m, 3857
		return r
	}
	out := &Raster{Width: size, Height: size, DType: r.DType, NoData: r.NoData, HasNoData: r.HasNoData, Bounds: m, EPSG: 3857}
	n := size * size
	srcIdx := make([]int, n) // -1: outside the raster
	res := (m.MaxX - m.MinX) / float64(size)
	for row := 0; row < size; row++ {
		y := m.MaxY - (float64(row)+0.5)*res
		_, lat := tiles.MercatorToLonLat(0, y)
		for col := 0; col < size; col++ {
			i := row*size + col
			var sx, sy int
			if r.EPSG == 4326 {
				x := m.MinX + (float64(col)+0.5)*res
				lon, _ := tiles.MercatorToLonLat(x, 0)
				b := r.Bounds
				fx := (lon - b.MinX) / (b.MaxX - b.MinX) * float64(r.Width)
				fy := (b.MaxY - lat) / (b.MaxY - b.MinY) * float64(r.Height)
				// Negated, so that NaN (bounds of no width) is outside too.
				if !(fx >= 0 && fy >= 0 && fx < float64(r.Width) && fy < float64(r.Height)) {
					srcIdx[i] = -1
					continue
				}
				sx, sy = int(fx), int(fy)
			} else {
				sx, sy = col*r.Width/size, row*r.Height/size
			}
			srcIdx[i] = sy*r.Width + sx
		}
	}
	for b := range r.BandCount() {
		at := r.Sampler(b)
		vals := make([]float64, n)
		for i, s := range srcIdx {
			if s >= 0 {
				vals[i] = at(s)
			} else {
				vals[i] = math.NaN()
			}
		}
		out.Bands = append(out.Bands, vals)
	}
	out.Mask = make([]uint8, n)
	for i, s := range srcIdx {
		if s >= 0 && (r.Mask == nil || r.Mask[s] > 0) {
			out.Mask[i] = 255
		}
	}
	return out
}
