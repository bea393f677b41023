package cog_test

import (
	"fmt"
	"testing"

	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/tiles"
)

// BenchmarkReadTile warps and reads 256 px tiles of the demo DEM at every zoom of
// the layer.
//
// cold walks the zoom's tile set, one tile per iteration, with a fresh reader for
// every walk: each column's warped grid is built once per walk, as on a server
// that has not served the area yet. Building the reader is not timed.
// warm reads one tile again and again, the grid already built.
func BenchmarkReadTile(b *testing.B) {
	path := demoDEM(b)
	probe := cog.New(cog.Options{Path: path})
	s := probe.Schema()
	probe.Close()
	o := cog.TileOptions{Size: 256, Resampling: "nearest"}
	for z := s.MinZoom; z <= s.MaxZoom; z++ {
		var set []tiles.Tile
		tiles.Cover(s.Bounds, z).Each(func(t tiles.Tile) bool {
			set = append(set, t)
			return true
		})
		b.Run(fmt.Sprintf("cold/z=%d", z), func(b *testing.B) {
			var r *cog.Reader
			for i := 0; i < b.N; i++ {
				if i%len(set) == 0 {
					b.StopTimer()
					if r != nil {
						r.Close()
					}
					r = cog.New(cog.Options{Path: path})
					if err := r.Status(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if _, err := r.ReadTile(set[i%len(set)], o); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			r.Close()
			b.ReportMetric(float64(len(set)), "tiles/set")
		})
		b.Run(fmt.Sprintf("warm/z=%d", z), func(b *testing.B) {
			r := cog.New(cog.Options{Path: path})
			defer r.Close()
			tile := set[len(set)/2]
			if _, err := r.ReadTile(tile, o); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.ReadTile(tile, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
