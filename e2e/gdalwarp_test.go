package e2e

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"math/rand"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/tiles"
)

// TestTilesMatchGDALWarp reads 20 random tiles of the UTM demo DEM as raw GeoTIFF
// and compares them with what gdalwarp makes of the same tile bounds, then checks
// that the PNG of each tile shows the plasma colours of those values.
func TestTilesMatchGDALWarp(t *testing.T) {
	env := newTestServer(t)
	plasma, err := colormap.Lookup("plasma")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	resamplings := []string{"nearest", "bilinear", "cubic", "average"}
	bounds := env.demoBounds
	seen := map[tiles.Tile]bool{}
	for i, tries := 0, 0; i < 20; tries++ {
		if tries > 200 {
			t.Fatalf("found only %d tiles with data", i)
		}
		z := 6 + rng.Intn(7) // 6..12: every overview level and full resolution
		rg := tiles.Cover(bounds, z)
		tl := tiles.Tile{Z: z, X: rg.MinX + rng.Intn(rg.MaxX-rg.MinX+1), Y: rg.MinY + rng.Intn(rg.MaxY-rg.MinY+1)}
		if seen[tl] || !env.hasData(t, tl) {
			continue
		}
		seen[tl] = true
		rs := resamplings[i%len(resamplings)]
		i++
		t.Run(fmt.Sprintf("%s_%s", tl, rs), func(t *testing.T) {
			url := fmt.Sprintf("/v1/udfs/elevation/tiles/%s", tl)
			tif := env.get(t, url+".tif?resampling="+rs, 200)
			ours := readGTiff(t, tif.Body.Bytes(), filepath.Join(t.TempDir(), "ours.tif"))

			m := tl.Mercator()
			ref := filepath.Join(t.TempDir(), "ref.tif")
			args := []string{"-q", "-t_srs", "EPSG:3857",
				"-te", f64(m.MinX), f64(m.MinY), f64(m.MaxX), f64(m.MaxY), "-ts", "256", "256", "-r", rs}
			if rs == "nearest" {
				// Nearest neighbour interpolates coordinates from a lattice
				// within 1/32 pixel of the exact ones (cog/lattice.go): held to
				// gdalwarp's exact coordinates, a pixel may pick the neighbour
				// only when its coordinates are that close to an edge.
				args = append(args, "-et", "0")
			}
			cmd := exec.Command("gdalwarp", append(args, env.demoPath, ref)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("gdalwarp: %v\n%s", err, out)
			}
			want := readFile(t, ref)
			compared, off := 0, 0
			for p := range want.vals {
				if want.vals[p] == want.nodata || ours.vals[p] == ours.nodata {
					continue
				}
				compared++
				if math.Abs(want.vals[p]-ours.vals[p]) > 1 {
					off++
				}
			}
			t.Logf("%d of %d pixels differ from gdalwarp by more than 1", off, compared)
			switch {
			case rs != "nearest" && off > 0:
				t.Errorf("%d of %d pixels differ from gdalwarp by more than 1", off, compared)
			case off > compared/100:
				t.Errorf("%d of %d pixels differ from gdalwarp -et 0 (want at most 1%%)", off, compared)
			}
			// Nodata pixels agree too, except along the edges of the hole where
			// resamplers may differ in what they call valid.
			disagree := 0
			for p := range want.vals {
				if (want.vals[p] == want.nodata) != (ours.vals[p] == ours.nodata) {
					disagree++
				}
			}
			if disagree > len(want.vals)/50 {
				t.Errorf("%d pixels differ in being nodata (want < 2%%)", disagree)
			}

			pngRes := env.get(t, url+".png?resampling="+rs, 200)
			img, err := png.Decode(bytes.NewReader(pngRes.Body.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for p, v := range ours.vals {
				x, y := p%256, p/256
				r, g, b, a := img.At(x, y).RGBA()
				if v == ours.nodata {
					if a != 0 {
						t.Fatalf("pixel %d,%d is nodata but not transparent", x, y)
					}
					continue
				}
				c := plasma.Index(colormap.Rescale(v, 0, 3000))
				if uint8(r>>8) != c[0] || uint8(g>>8) != c[1] || uint8(b>>8) != c[2] || a>>8 != 255 {
					t.Fatalf("pixel %d,%d value %g: png %d,%d,%d,%d, want plasma %v", x, y, v, r>>8, g>>8, b>>8, a>>8, c)
				}
				checked++
			}
			if compared == 0 || checked == 0 {
				t.Fatalf("tile has no valid pixels to compare")
			}
		})
	}
}

func f64(v float64) string { return fmt.Sprintf("%.10f", v) }

type band struct {
	vals   []float64
	nodata float64
}

func readGTiff(t *testing.T, b []byte, path string) band {
	t.Helper()
	writeFile(t, path, b)
	return readFile(t, path)
}

func readFile(t *testing.T, path string) band {
	t.Helper()
	ds, err := godal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	st := ds.Structure()
	if st.SizeX != 256 || st.SizeY != 256 {
		t.Fatalf("%s is %dx%d, want 256x256", path, st.SizeX, st.SizeY)
	}
	bd := ds.Bands()[0]
	nd, ok := bd.NoData()
	if !ok {
		t.Fatalf("%s has no nodata value", path)
	}
	vals := make([]float64, 256*256)
	if err := bd.Read(0, 0, vals, 256, 256); err != nil {
		t.Fatal(err)
	}
	return band{vals: vals, nodata: nd}
}

// hasData reports whether any pixel of the tile is valid.
func (e *testEnv) hasData(t *testing.T, tl tiles.Tile) bool {
	rec := e.get(t, fmt.Sprintf("/v1/udfs/elevation/tiles/%s.npy", tl), 200)
	b := rec.Body.Bytes()
	hdr := 10 + int(b[8]) + int(b[9])<<8
	for p := hdr; p+1 < len(b); p += 2 {
		if v := int16(uint16(b[p]) | uint16(b[p+1])<<8); v != -32768 {
			return true
		}
	}
	return false
}
