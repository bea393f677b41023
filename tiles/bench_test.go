package tiles

import (
	"math/rand"
	"testing"
)

// Sinks keep the compiler from discarding the benchmarked calls.
var (
	sinkBounds Bounds
	sinkTile   Tile
	sinkRange  Range
	sinkCount  int64
)

// benchTiles is a fixed set of tiles spread over zooms 0..24.
func benchTiles() []Tile {
	r := rand.New(rand.NewSource(seed))
	ts := make([]Tile, 1024)
	for i := range ts {
		ts[i] = randTile(r, i%25)
	}
	return ts
}

func BenchmarkTileMercator(b *testing.B) {
	ts := benchTiles()
	i := 0
	for b.Loop() {
		sinkBounds = ts[i&1023].Mercator()
		i++
	}
}

func BenchmarkTileLonLat(b *testing.B) {
	ts := benchTiles()
	i := 0
	for b.Loop() {
		sinkBounds = ts[i&1023].LonLat()
		i++
	}
}

func BenchmarkAtLonLat(b *testing.B) {
	r := rand.New(rand.NewSource(seed))
	pts := make([][2]float64, 1024)
	for i := range pts {
		pts[i] = [2]float64{r.Float64()*360 - 180, (r.Float64()*2 - 1) * 85}
	}
	i := 0
	for b.Loop() {
		p := pts[i&1023]
		sinkTile = AtLonLat(p[0], p[1], 14)
		i++
	}
}

// germany is a country-sized bounding box.
var germany = Bounds{MinX: 5.87, MinY: 47.27, MaxX: 15.04, MaxY: 55.06}

func BenchmarkCover(b *testing.B) {
	for b.Loop() {
		sinkRange = Cover(germany, 12)
	}
}

// BenchmarkCoverEach also walks every tile of the range (about 10k at z12).
func BenchmarkCoverEach(b *testing.B) {
	for b.Loop() {
		var n int64
		Cover(germany, 12).Each(func(Tile) bool { n++; return true })
		sinkCount = n
	}
}
