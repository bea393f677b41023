package cog_test

import (
	"fmt"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/tiles"
)

// fullRes is the value of every full-resolution pixel of an overviewGrid; overview
// level i holds 201+i, so a tile's values tell which level it was read from.
const fullRes = 100

// overviewGrid is a Byte grid of w×h pixels of fullRes whose overviews are filled
// with 201, 202, ...
func overviewGrid(epsg int, gt [6]float64, w, h int) demo.Grid {
	g := filled(epsg, gt, w, h, godal.Byte, 1, constant(fullRes))
	for i := 0; i < 12; i++ {
		g.OverviewFill = append(g.OverviewFill, float64(201+i))
	}
	return g
}

// levelsIn returns the distinct valid values of the tile's first band.
func levelsIn(t *testing.T, r *cog.Reader, tile tiles.Tile, size int) map[float64]int {
	t.Helper()
	ras := read(t, r, tile, cog.TileOptions{Size: size})
	out := map[float64]int{}
	for p, m := range ras.Mask {
		if m > 0 {
			out[ras.Bands[0][p]]++
		}
	}
	return out
}

// overviewCase is a grid to write with overviewGrid.
type overviewCase struct {
	name    string
	epsg    int
	gt      [6]float64
	w, h    int
	minZoom *int
}

var overviewCases = []overviewCase{
	// 30 m UTM: overviews 1/2..1/8.
	{"utm", 32633, [6]float64{380000, 30, 0, 5250000, 0, -30}, 1024, 1024, nil},
	// 1720 km from north to south: the tiles of one column want different levels
	// (at zoom 7, 1.85 source pixels per tile pixel in the north, 2.4 in the south).
	{"utm tall", 32633, [6]float64{380000, 420, 0, 5600000, 0, -420}, 512, 4096, nil},
	// Geographic grids, where a pixel is much taller than wide in EPSG:3857.
	{"epsg4326", 4326, smallGT, 1000, 800, nil},
	{"epsg4326 north", 4326, [6]float64{5, 30.0 / 2048, 0, 71, 0, -16.0 / 1024}, 2048, 1024, nil},
	// The whole world, poles included: beyond EPSG:3857's reach.
	{"world", 4326, [6]float64{-180, 360.0 / 2048, 0, 90, 0, -180.0 / 1024}, 2048, 1024, nil},
	// A continent, served from zoom 0.
	{"continent", 4326, [6]float64{-10, 50.0 / 4096, 0, 70, 0, -35.0 / 4096}, 4096, 4096, new(int)},
}

func (c overviewCase) write(t *testing.T) string {
	t.Helper()
	return writeCOG(t, "ovr", overviewGrid(c.epsg, c.gt, c.w, c.h))
}

// TestOverviewChoice checks that low zooms read overviews and the native zoom the
// full resolution.
func TestOverviewChoice(t *testing.T) {
	for _, c := range overviewCases {
		t.Run(c.name, func(t *testing.T) {
			r := newReader(t, cog.Options{Path: c.write(t), MinZoom: c.minZoom})
			s := r.Schema()
			for _, tile := range sampleTiles(r, s.MinZoom) {
				vals := levelsIn(t, r, tile, 256)
				if vals[fullRes] > 0 {
					t.Errorf("tile %s at the lowest zoom has %d full-resolution pixels: %v", tile, vals[fullRes], vals)
				}
				for v := range vals {
					if v < 201 || v > 212 {
						t.Errorf("tile %s at the lowest zoom has value %v, not an overview's", tile, v)
					}
				}
			}
			lon, lat := (s.Bounds.MinX+s.Bounds.MaxX)/2, (s.Bounds.MinY+s.Bounds.MaxY)/2
			mid := tiles.AtLonLat(lon, lat, s.MaxZoom)
			if vals := levelsIn(t, r, mid, 256); len(vals) != 1 || vals[fullRes] != 256*256 {
				t.Errorf("tile %s at the native zoom: values %v, want all %d", mid, vals, fullRes)
			}
		})
	}
}

// TestOverviewAtZoom2 reads a zoom 2 tile of a continent-sized grid: it must come
// from an overview (the 1/16 one, like gdalwarp's choice), never the full resolution.
func TestOverviewAtZoom2(t *testing.T) {
	c := overviewCases[len(overviewCases)-1]
	path := c.write(t)
	r := newReader(t, cog.Options{Path: path, MinZoom: c.minZoom})
	if s := r.Schema(); s.MinZoom != 0 {
		t.Fatalf("minzoom %d, want the override 0", s.MinZoom)
	}
	tile := tiles.AtLonLat(15, 50, 2)
	// A z2 pixel is 39 km; a source pixel 1.36 km wide: 28.8 source pixels per
	// tile pixel, so the 1/16 overview, level 3.
	vals := levelsIn(t, r, tile, 256)
	if len(vals) != 1 || vals[204] == 0 {
		t.Errorf("tile %s: values %v, want only 204", tile, vals)
	}
	sameAsGDAL(t, read(t, r, tile, cog.TileOptions{}), gdalwarpTile(t, path, tile, 256, "nearest", "-ovr", "AUTO"), 0)
	for _, tile := range []tiles.Tile{{Z: 0}, {Z: 1, X: 1}} {
		if vals := levelsIn(t, r, tile, 256); vals[fullRes] > 0 || len(vals) == 0 {
			t.Errorf("tile %s: values %v, want overview values only", tile, vals)
		}
	}
}

// TestOverviewMatchesGDALWarp holds the overview picked for every zoom, at the
// data's edge and inside, to gdalwarp's own `-ovr AUTO` choice for the same tile.
func TestOverviewMatchesGDALWarp(t *testing.T) {
	for _, c := range overviewCases {
		t.Run(c.name, func(t *testing.T) {
			path := c.write(t)
			r := newReader(t, cog.Options{Path: path, MinZoom: c.minZoom})
			s := r.Schema()
			levels := map[float64]bool{}
			mixed := false // whether tiles of one column came from different levels
			for z := s.MinZoom; z <= s.MaxZoom; z++ {
				tls, sizes := sampleTiles(r, z), []int{256, 512}
				if c.name == "utm tall" {
					// The whole middle column, north to south.
					rg := tiles.Cover(s.Bounds, z)
					tls, sizes = nil, []int{256}
					for y := rg.MinY; y <= rg.MaxY && y < rg.MinY+24; y++ {
						tls = append(tls, tiles.Tile{Z: z, X: (rg.MinX + rg.MaxX) / 2, Y: y})
					}
				}
				column := map[float64]bool{}
				for _, tile := range tls {
					for _, size := range sizes {
						t.Run(fmt.Sprintf("%s@%d", tile, size), func(t *testing.T) {
							got := read(t, r, tile, cog.TileOptions{Size: size})
							want := gdalwarpTile(t, path, tile, size, "nearest", "-ovr", "AUTO")
							if c.epsg == 32633 { // coordinates from the lattice
								nearestNearGDAL(t, r, tile, got, want)
							} else {
								sameAsGDAL(t, got, want, 0)
							}
							for p, m := range got.Mask {
								if m > 0 {
									levels[got.Bands[0][p]] = true
									column[got.Bands[0][p]] = true
								}
							}
						})
					}
				}
				mixed = mixed || len(column) > 1
			}
			if !levels[fullRes] || len(levels) < 3 {
				t.Errorf("the zooms read levels %v; want the full resolution and overviews", levels)
			}
			if c.name == "utm tall" && !mixed {
				t.Errorf("no zoom read one column from different levels")
			}
		})
	}
}
