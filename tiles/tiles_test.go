package tiles

import (
	"math"
	"math/rand"
	"strings"
	"testing"
)

// worldMetres is half the EPSG:3857 world width as published for EPSG:3857.
const worldMetres = 20037508.342789244

// worldLat is the published latitude limit of WebMercatorQuad.
const worldLat = 85.0511287798

// seed makes every property test reproducible.
const seed = 20240601

// propZooms are the zoom levels the property tests sample tiles from.
var propZooms = func() []int {
	zs := make([]int, 0, 26)
	for z := 0; z <= 24; z++ {
		zs = append(zs, z)
	}
	return append(zs, MaxZoom)
}()

// samplesPerZoom is how many random tiles each property test checks per zoom.
const samplesPerZoom = 400

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func boundsNear(a, b Bounds, tol float64) bool {
	return near(a.MinX, b.MinX, tol) && near(a.MinY, b.MinY, tol) &&
		near(a.MaxX, b.MaxX, tol) && near(a.MaxY, b.MaxY, tol)
}

func randTile(r *rand.Rand, z int) Tile {
	n := int64(1) << uint(z)
	return Tile{Z: z, X: int(r.Int63n(n)), Y: int(r.Int63n(n))}
}

// forRandomTiles calls fn for samplesPerZoom random tiles at every zoom of
// propZooms, plus the four corner tiles of each zoom.
func forRandomTiles(t *testing.T, fn func(t *testing.T, tile Tile)) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	for _, z := range propZooms {
		last := (1 << uint(z)) - 1
		corners := []Tile{{z, 0, 0}, {z, last, 0}, {z, 0, last}, {z, last, last}}
		for _, c := range corners {
			fn(t, c)
		}
		for i := 0; i < samplesPerZoom; i++ {
			fn(t, randTile(r, z))
		}
		if t.Failed() {
			return
		}
	}
}

// slippyTile is an independent implementation of the usual slippy-map formula,
// used as an oracle for AtLonLat away from tile edges.
func slippyTile(lon, lat float64, z int) (x, y float64) {
	n := math.Exp2(float64(z))
	phi := lat * math.Pi / 180
	x = (lon + 180) / 360 * n
	y = (1 - math.Asinh(math.Tan(phi))/math.Pi) / 2 * n
	return x, y
}

func TestConstants(t *testing.T) {
	if !near(OriginShift, worldMetres, 1e-8) {
		t.Errorf("OriginShift = %.9f, want %.9f", OriginShift, worldMetres)
	}
	if !near(MaxLat, worldLat, 1e-10) {
		t.Errorf("MaxLat = %.12f, want %.10f", MaxLat, worldLat)
	}
	// MaxLat is exactly where the projection becomes a square.
	_, y := LonLatToMercator(0, MaxLat)
	if !near(y, OriginShift, 1e-6) {
		t.Errorf("mercator y of MaxLat = %.9f, want %.9f", y, OriginShift)
	}
	for z := 0; z <= MaxZoom; z++ {
		if got := Size(z) * math.Exp2(float64(z)); got != 2*OriginShift {
			t.Errorf("Size(%d)*2^%d = %.9f, want %.9f", z, z, got, 2*OriginShift)
		}
	}
}

func TestWorldTile(t *testing.T) {
	w := Tile{}
	if err := w.Validate(); err != nil {
		t.Fatalf("0/0/0 invalid: %v", err)
	}
	m := w.Mercator()
	wantM := Bounds{-worldMetres, -worldMetres, worldMetres, worldMetres}
	if !boundsNear(m, wantM, 1e-8) {
		t.Errorf("0/0/0 Mercator = %+v, want %+v", m, wantM)
	}
	ll := w.LonLat()
	wantLL := Bounds{-180, -worldLat, 180, worldLat}
	if !boundsNear(ll, wantLL, 1e-10) {
		t.Errorf("0/0/0 LonLat = %+v, want %+v", ll, wantLL)
	}
	if ll.MinX != -180 || ll.MaxX != 180 {
		t.Errorf("0/0/0 longitudes = %v..%v, want exactly -180..180", ll.MinX, ll.MaxX)
	}
	if w.Parent() != w {
		t.Errorf("0/0/0 Parent = %v, want itself", w.Parent())
	}
}

func TestZoomOneQuadrants(t *testing.T) {
	s, l := worldMetres, worldLat
	tests := []struct {
		name   string
		tile   Tile
		merc   Bounds
		lonlat Bounds
	}{
		{"north-west", Tile{1, 0, 0}, Bounds{-s, 0, 0, s}, Bounds{-180, 0, 0, l}},
		{"north-east", Tile{1, 1, 0}, Bounds{0, 0, s, s}, Bounds{0, 0, 180, l}},
		{"south-west", Tile{1, 0, 1}, Bounds{-s, -s, 0, 0}, Bounds{-180, -l, 0, 0}},
		{"south-east", Tile{1, 1, 1}, Bounds{0, -s, s, 0}, Bounds{0, -l, 180, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tile.Mercator(); !boundsNear(got, tc.merc, 1e-8) {
				t.Errorf("%v Mercator = %+v, want %+v", tc.tile, got, tc.merc)
			}
			if got := tc.tile.LonLat(); !boundsNear(got, tc.lonlat, 1e-10) {
				t.Errorf("%v LonLat = %+v, want %+v", tc.tile, got, tc.lonlat)
			}
			lon, lat := tc.lonlat.Center()
			if got := AtLonLat(lon, lat, 1); got != tc.tile {
				t.Errorf("AtLonLat(%v, %v, 1) = %v, want %v", lon, lat, got, tc.tile)
			}
		})
	}
}

func TestAtLonLatKnown(t *testing.T) {
	tests := []struct {
		name     string
		lon, lat float64
		want     Tile
	}{
		{"berlin z10", 13.4, 52.5, Tile{10, 550, 335}},
		{"new york z12", -74.0060, 40.7128, Tile{12, 1205, 1540}},
		{"sydney z14", 151.2093, -33.8688, Tile{14, 15073, 9831}},
		{"eiffel tower z18", 2.2945, 48.8584, Tile{18, 132742, 90182}},
		{"london z16", -0.1276, 51.5072, Tile{16, 32744, 21792}},
		{"tokyo z8", 139.6917, 35.6895, Tile{8, 227, 100}},
		{"origin z0", 0, 0, Tile{0, 0, 0}},
		{"origin belongs to south-east z1", 0, 0, Tile{1, 1, 1}},
		{"origin z5", 0, 0, Tile{5, 16, 16}},
		{"north-west corner", -180, worldLat, Tile{3, 0, 0}},
		{"antimeridian east clamps", 180, 0, Tile{3, 7, 4}},
		{"north pole clamps", 10, 90, Tile{4, 8, 0}},
		{"south pole clamps", 10, -90, Tile{4, 8, 15}},
		{"beyond north limit z30", -180, 89, Tile{30, 0, 0}},
		{"south-east corner z30", 180, -90, Tile{30, 1<<30 - 1, 1<<30 - 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AtLonLat(tc.lon, tc.lat, tc.want.Z)
			if got != tc.want {
				t.Errorf("AtLonLat(%v, %v, %d) = %v, want %v", tc.lon, tc.lat, tc.want.Z, got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("AtLonLat returned invalid tile %v: %v", got, err)
			}
		})
	}
}

func TestAtLonLatMatchesSlippyFormula(t *testing.T) {
	r := rand.New(rand.NewSource(seed))
	checked := 0
	for _, z := range propZooms {
		for i := 0; i < samplesPerZoom; i++ {
			lon := r.Float64()*360 - 180
			lat := (r.Float64()*2 - 1) * 85
			fx, fy := slippyTile(lon, lat, z)
			// Skip points within a hair of an edge, where two correct
			// implementations may round differently.
			const margin = 1e-6
			if fx-math.Floor(fx) < margin || math.Ceil(fx)-fx < margin ||
				fy-math.Floor(fy) < margin || math.Ceil(fy)-fy < margin {
				continue
			}
			want := Tile{z, int(fx), int(fy)}
			if got := AtLonLat(lon, lat, z); got != want {
				t.Fatalf("AtLonLat(%v, %v, %d) = %v, want %v", lon, lat, z, got, want)
			}
			checked++
		}
	}
	if checked < len(propZooms)*samplesPerZoom*9/10 {
		t.Fatalf("only %d points checked", checked)
	}
}

func TestTileValidate(t *testing.T) {
	max := 1<<MaxZoom - 1
	tests := []struct {
		name    string
		tile    Tile
		wantErr []string // substrings the error must contain; nil means valid
	}{
		{"world", Tile{0, 0, 0}, nil},
		{"z1 south-east", Tile{1, 1, 1}, nil},
		{"z12 interior", Tile{12, 2048, 1361}, nil},
		{"max zoom corner", Tile{MaxZoom, max, max}, nil},
		{"negative zoom", Tile{-1, 0, 0}, []string{"zoom", "-1"}},
		{"zoom too deep", Tile{MaxZoom + 1, 0, 0}, []string{"zoom", "31"}},
		{"huge zoom", Tile{64, 0, 0}, []string{"zoom", "64"}},
		{"negative x", Tile{3, -1, 0}, []string{"x -1", "[0, 7]"}},
		{"x past edge", Tile{3, 8, 0}, []string{"x 8", "[0, 7]", "zoom 3"}},
		{"x at z0", Tile{0, 1, 0}, []string{"x 1", "[0, 0]"}},
		{"negative y", Tile{3, 0, -1}, []string{"y -1", "[0, 7]"}},
		{"y past edge", Tile{3, 0, 8}, []string{"y 8", "zoom 3"}},
		{"y past edge at max zoom", Tile{MaxZoom, 0, max + 1}, []string{"y 1073741824"}},
		{"x checked before y", Tile{2, 9, 9}, []string{"x 9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tile.Validate()
			_, newErr := New(tc.tile.Z, tc.tile.X, tc.tile.Y)
			if (err == nil) != (newErr == nil) {
				t.Errorf("Validate err=%v but New err=%v", err, newErr)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Errorf("%v: unexpected error %v", tc.tile, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%v: expected an error", tc.tile)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%v: error %q does not mention %q", tc.tile, err, s)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	tile, err := New(10, 550, 335)
	if err != nil || tile != (Tile{10, 550, 335}) {
		t.Errorf("New(10, 550, 335) = %v, %v", tile, err)
	}
	if got := tile.String(); got != "10/550/335" {
		t.Errorf("String() = %q, want %q", got, "10/550/335")
	}
}

func TestLonLatMercatorRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(seed))
	points := [][2]float64{
		{0, 0}, {-180, 0}, {180, 0}, {0, MaxLat}, {0, -MaxLat},
		{-180, -MaxLat}, {180, MaxLat}, {1e-12, -1e-12}, {13.4, 52.5},
	}
	for i := 0; i < 100000; i++ {
		points = append(points, [2]float64{r.Float64()*360 - 180, (r.Float64()*2 - 1) * MaxLat})
	}
	for _, p := range points {
		x, y := LonLatToMercator(p[0], p[1])
		if math.Abs(x) > OriginShift+1e-6 || math.Abs(y) > OriginShift+1e-6 {
			t.Fatalf("LonLatToMercator(%v, %v) = %v, %v: outside the world square", p[0], p[1], x, y)
		}
		lon, lat := MercatorToLonLat(x, y)
		if !near(lon, p[0], 1e-9) || !near(lat, p[1], 1e-9) {
			t.Fatalf("round trip of %v, %v gave %v, %v", p[0], p[1], lon, lat)
		}
	}
}

func TestMercatorLonLatRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(seed))
	for i := 0; i < 100000; i++ {
		x := (r.Float64()*2 - 1) * OriginShift
		y := (r.Float64()*2 - 1) * OriginShift
		lon, lat := MercatorToLonLat(x, y)
		x2, y2 := LonLatToMercator(lon, lat)
		if !near(x, x2, 1e-6) || !near(y, y2, 1e-6) {
			t.Fatalf("round trip of %v, %v m gave %v, %v", x, y, x2, y2)
		}
	}
}

func TestLatitudeClamp(t *testing.T) {
	tests := []struct {
		lat   float64
		wantY float64
	}{
		{90, worldMetres},
		{89.999, worldMetres},
		{MaxLat + 1e-9, worldMetres},
		{-90, -worldMetres},
		{-86, -worldMetres},
	}
	for _, tc := range tests {
		_, y := LonLatToMercator(0, tc.lat)
		if !near(y, tc.wantY, 1e-6) {
			t.Errorf("LonLatToMercator(0, %v) y = %v, want %v", tc.lat, y, tc.wantY)
		}
	}
	if x, _ := LonLatToMercator(180, 0); x != OriginShift {
		t.Errorf("LonLatToMercator(180, 0) x = %v, want %v", x, OriginShift)
	}
	if x, _ := LonLatToMercator(-180, 0); x != -OriginShift {
		t.Errorf("LonLatToMercator(-180, 0) x = %v, want %v", x, -OriginShift)
	}
}

func TestAtLonLatOfCenter(t *testing.T) {
	forRandomTiles(t, func(t *testing.T, tile Tile) {
		lon, lat := tile.LonLat().Center()
		if got := AtLonLat(lon, lat, tile.Z); got != tile {
			t.Errorf("AtLonLat(lon/lat center %v, %v, %d) = %v, want %v", lon, lat, tile.Z, got, tile)
		}
		mx, my := tile.Mercator().Center()
		lon, lat = MercatorToLonLat(mx, my)
		if got := AtLonLat(lon, lat, tile.Z); got != tile {
			t.Errorf("AtLonLat(mercator center %v, %v, %d) = %v, want %v", lon, lat, tile.Z, got, tile)
		}
	})
}

func TestAtLonLatNearCorners(t *testing.T) {
	// Points just inside each corner (1% of the tile in) still land in the tile.
	forRandomTiles(t, func(t *testing.T, tile Tile) {
		m := tile.Mercator()
		dx, dy := (m.MaxX-m.MinX)/100, (m.MaxY-m.MinY)/100
		for _, p := range [][2]float64{
			{m.MinX + dx, m.MinY + dy}, {m.MaxX - dx, m.MinY + dy},
			{m.MinX + dx, m.MaxY - dy}, {m.MaxX - dx, m.MaxY - dy},
		} {
			lon, lat := MercatorToLonLat(p[0], p[1])
			if got := AtLonLat(lon, lat, tile.Z); got != tile {
				t.Errorf("AtLonLat(%v, %v, %d) = %v, want %v", lon, lat, tile.Z, got, tile)
			}
		}
	})
}

func TestLonLatBoundsProjectToMercatorBounds(t *testing.T) {
	forRandomTiles(t, func(t *testing.T, tile Tile) {
		ll, m := tile.LonLat(), tile.Mercator()
		if got := ll.ToMercator(); !boundsNear(got, m, 1e-6) {
			t.Errorf("%v: LonLat().ToMercator() = %+v, Mercator() = %+v", tile, got, m)
		}
		if got := m.ToLonLat(); !boundsNear(got, ll, 1e-9) {
			t.Errorf("%v: Mercator().ToLonLat() = %+v, LonLat() = %+v", tile, got, ll)
		}
	})
}

func TestBoundsAreOrderedAndInsideWorld(t *testing.T) {
	world := Tile{}.Mercator()
	worldLL := Tile{}.LonLat()
	forRandomTiles(t, func(t *testing.T, tile Tile) {
		m, ll := tile.Mercator(), tile.LonLat()
		if !(m.MinX < m.MaxX && m.MinY < m.MaxY) {
			t.Errorf("%v: Mercator bounds not ordered: %+v", tile, m)
		}
		if !(ll.MinX < ll.MaxX && ll.MinY < ll.MaxY) {
			t.Errorf("%v: LonLat bounds not ordered: %+v", tile, ll)
		}
		if !world.Contains(m) {
			t.Errorf("%v: Mercator bounds %+v outside the world %+v", tile, m, world)
		}
		if !worldLL.Contains(ll) {
			t.Errorf("%v: LonLat bounds %+v outside the world %+v", tile, ll, worldLL)
		}
		if w := m.MaxX - m.MinX; !near(w, Size(tile.Z), 1e-6) {
			t.Errorf("%v: width %v, want Size %v", tile, w, Size(tile.Z))
		}
		if h := m.MaxY - m.MinY; !near(h, Size(tile.Z), 1e-6) {
			t.Errorf("%v: height %v, want Size %v", tile, h, Size(tile.Z))
		}
	})
}

func TestNeighboursShareEdges(t *testing.T) {
	forRandomTiles(t, func(t *testing.T, tile Tile) {
		n := 1 << uint(tile.Z)
		m, ll := tile.Mercator(), tile.LonLat()
		if tile.X+1 < n {
			east := Tile{tile.Z, tile.X + 1, tile.Y}
			em, ell := east.Mercator(), east.LonLat()
			if em.MinX != m.MaxX {
				t.Errorf("%v east neighbour MinX %v != MaxX %v", tile, em.MinX, m.MaxX)
			}
			if em.MinY != m.MinY || em.MaxY != m.MaxY {
				t.Errorf("%v east neighbour rows differ: %+v vs %+v", tile, em, m)
			}
			if ell.MinX != ll.MaxX {
				t.Errorf("%v east neighbour lon MinX %v != MaxX %v", tile, ell.MinX, ll.MaxX)
			}
			if m.Intersects(em) {
				t.Errorf("%v and its east neighbour should only touch", tile)
			}
		} else if m.MaxX != OriginShift || ll.MaxX != 180 {
			t.Errorf("%v: last column should end at the antimeridian: %+v %+v", tile, m, ll)
		}
		if tile.Y+1 < n {
			south := Tile{tile.Z, tile.X, tile.Y + 1}
			sm, sll := south.Mercator(), south.LonLat()
			if sm.MaxY != m.MinY {
				t.Errorf("%v south neighbour MaxY %v != MinY %v", tile, sm.MaxY, m.MinY)
			}
			if sm.MinX != m.MinX || sm.MaxX != m.MaxX {
				t.Errorf("%v south neighbour columns differ: %+v vs %+v", tile, sm, m)
			}
			if sll.MaxY != ll.MinY {
				t.Errorf("%v south neighbour lat MaxY %v != MinY %v", tile, sll.MaxY, ll.MinY)
			}
			if m.Intersects(sm) {
				t.Errorf("%v and its south neighbour should only touch", tile)
			}
		} else if !near(m.MinY, -OriginShift, 1e-9) {
			t.Errorf("%v: last row should end at the southern edge: %+v", tile, m)
		}
		if tile.X == 0 && (m.MinX != -OriginShift || ll.MinX != -180) {
			t.Errorf("%v: first column should start at -180: %+v %+v", tile, m, ll)
		}
	})
}

func TestChildrenCoverParent(t *testing.T) {
	forRandomTiles(t, func(t *testing.T, parent Tile) {
		if parent.Z == MaxZoom {
			// Children of the deepest zoom are not valid tiles, but the
			// arithmetic must still hold up to z31.
			if err := parent.Children()[0].Validate(); err == nil {
				t.Errorf("child of %v should not validate", parent)
			}
		}
		kids := parent.Children()
		pm, pll := parent.Mercator(), parent.LonLat()
		um, ull := kids[0].Mercator(), kids[0].LonLat()
		for i, c := range kids {
			if c.Z != parent.Z+1 {
				t.Errorf("child %d of %v has zoom %d", i, parent, c.Z)
			}
			if c.Parent() != parent {
				t.Errorf("child %v of %v has Parent %v", c, parent, c.Parent())
			}
			if parent.Z < MaxZoom {
				if err := c.Validate(); err != nil {
					t.Errorf("child %v of %v invalid: %v", c, parent, err)
				}
			}
			cm, cll := c.Mercator(), c.LonLat()
			if !pm.Contains(cm) || !pll.Contains(cll) {
				t.Errorf("child %v not inside parent %v", c, parent)
			}
			um = union(um, cm)
			ull = union(ull, cll)
		}
		if um != pm {
			t.Errorf("%v: union of children %+v != parent %+v", parent, um, pm)
		}
		if ull != pll {
			t.Errorf("%v: lon/lat union of children %+v != parent %+v", parent, ull, pll)
		}
		// Row-major order: NW, NE, SW, SE, meeting at the parent's centre.
		nw, ne, sw, se := kids[0].Mercator(), kids[1].Mercator(), kids[2].Mercator(), kids[3].Mercator()
		if nw.MaxX != ne.MinX || sw.MaxX != se.MinX || nw.MaxX != sw.MaxX ||
			nw.MinY != sw.MaxY || ne.MinY != se.MaxY || nw.MinY != ne.MinY {
			t.Errorf("%v: children do not share their inner edges: %+v", parent, kids)
		}
		if cx, cy := pm.Center(); !near(nw.MaxX, cx, 1e-6) || !near(nw.MinY, cy, 1e-6) {
			t.Errorf("%v: children meet at %v,%v, want centre %v,%v", parent, nw.MaxX, nw.MinY, cx, cy)
		}
		if nw.MinX != pm.MinX || nw.MaxY != pm.MaxY || se.MaxX != pm.MaxX || se.MinY != pm.MinY {
			t.Errorf("%v: corner children not at parent corners", parent)
		}
		// Area of the children adds up to the parent.
		var area float64
		for _, c := range kids {
			m := c.Mercator()
			area += (m.MaxX - m.MinX) * (m.MaxY - m.MinY)
		}
		if pa := (pm.MaxX - pm.MinX) * (pm.MaxY - pm.MinY); !near(area, pa, pa*1e-12) {
			t.Errorf("%v: children area %v != parent area %v", parent, area, pa)
		}
	})
}

func TestParentChainReachesWorld(t *testing.T) {
	forRandomTiles(t, func(t *testing.T, tile Tile) {
		p := tile
		for i := 0; i < tile.Z; i++ {
			next := p.Parent()
			if !next.Mercator().Contains(p.Mercator()) {
				t.Fatalf("%v does not contain %v", next, p)
			}
			p = next
		}
		if p != (Tile{}) {
			t.Errorf("%d parents of %v = %v, want 0/0/0", tile.Z, tile, p)
		}
	})
}

func union(a, b Bounds) Bounds {
	return Bounds{
		MinX: math.Min(a.MinX, b.MinX), MinY: math.Min(a.MinY, b.MinY),
		MaxX: math.Max(a.MaxX, b.MaxX), MaxY: math.Max(a.MaxY, b.MaxY),
	}
}

func TestBoundsIntersects(t *testing.T) {
	a := Bounds{0, 0, 10, 10}
	tests := []struct {
		name string
		b    Bounds
		want bool
	}{
		{"same", a, true},
		{"inside", Bounds{2, 2, 3, 3}, true},
		{"around", Bounds{-1, -1, 11, 11}, true},
		{"overlap corner", Bounds{5, 5, 15, 15}, true},
		{"overlap strip", Bounds{-5, 4, 15, 6}, true},
		{"touch east edge", Bounds{10, 0, 20, 10}, false},
		{"touch west edge", Bounds{-10, 0, 0, 10}, false},
		{"touch north edge", Bounds{0, 10, 10, 20}, false},
		{"touch south edge", Bounds{0, -10, 10, 0}, false},
		{"touch corner", Bounds{10, 10, 20, 20}, false},
		{"disjoint east", Bounds{11, 0, 20, 10}, false},
		{"disjoint north", Bounds{0, 11, 10, 20}, false},
		{"overlap in x only", Bounds{2, 20, 3, 30}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Intersects(tc.b); got != tc.want {
				t.Errorf("%+v.Intersects(%+v) = %v, want %v", a, tc.b, got, tc.want)
			}
			if got := tc.b.Intersects(a); got != tc.want {
				t.Errorf("Intersects not symmetric for %+v", tc.b)
			}
		})
	}
}

func TestBoundsContains(t *testing.T) {
	a := Bounds{0, 0, 10, 10}
	tests := []struct {
		name string
		b    Bounds
		want bool
	}{
		{"same", a, true},
		{"inside", Bounds{2, 2, 3, 3}, true},
		{"shares west edge", Bounds{0, 2, 3, 3}, true},
		{"shares all but east", Bounds{0, 0, 5, 10}, true},
		{"degenerate point on corner", Bounds{10, 10, 10, 10}, true},
		{"sticks out east", Bounds{2, 2, 11, 3}, false},
		{"sticks out south", Bounds{2, -1, 3, 3}, false},
		{"around", Bounds{-1, -1, 11, 11}, false},
		{"disjoint", Bounds{20, 20, 30, 30}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Contains(tc.b); got != tc.want {
				t.Errorf("%+v.Contains(%+v) = %v, want %v", a, tc.b, got, tc.want)
			}
		})
	}
}

func TestBoundsCenter(t *testing.T) {
	x, y := Bounds{-10, 20, 30, 40}.Center()
	if x != 10 || y != 30 {
		t.Errorf("Center = %v, %v, want 10, 30", x, y)
	}
}

func TestBoundsValidate(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name    string
		b       Bounds
		wantErr string // substring; empty means valid
	}{
		{"world", Bounds{-180, -90, 180, 90}, ""},
		{"web mercator world", Bounds{-180, -MaxLat, 180, MaxLat}, ""},
		{"germany", Bounds{5.87, 47.27, 15.04, 55.06}, ""},
		{"tiny", Bounds{1, 1, 1 + 1e-12, 1 + 1e-12}, ""},
		{"NaN minx", Bounds{nan, 0, 1, 1}, "finite"},
		{"NaN miny", Bounds{0, nan, 1, 1}, "finite"},
		{"NaN maxx", Bounds{0, 0, nan, 1}, "finite"},
		{"NaN maxy", Bounds{0, 0, 1, nan}, "finite"},
		{"+Inf maxx", Bounds{0, 0, inf, 1}, "finite"},
		{"-Inf minx", Bounds{-inf, 0, 1, 1}, "finite"},
		{"inverted x", Bounds{10, 0, -10, 1}, "xmin < xmax"},
		{"inverted y", Bounds{0, 10, 1, -10}, "ymin < ymax"},
		{"zero width", Bounds{5, 0, 5, 1}, "xmin < xmax"},
		{"zero height", Bounds{0, 5, 1, 5}, "ymin < ymax"},
		{"west of globe", Bounds{-180.0001, 0, 1, 1}, "within -180,-90,180,90"},
		{"east of globe", Bounds{0, 0, 180.0001, 1}, "within -180,-90,180,90"},
		{"south of globe", Bounds{0, -90.0001, 1, 1}, "within -180,-90,180,90"},
		{"north of globe", Bounds{0, 0, 1, 90.0001}, "within -180,-90,180,90"},
		{"mercator metres passed as degrees", Tile{}.Mercator(), "within -180,-90,180,90"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("%+v: unexpected error %v", tc.b, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%+v: expected an error mentioning %q", tc.b, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: error %q does not mention %q", tc.b, err, tc.wantErr)
			}
		})
	}
}

func TestToMercatorToLonLat(t *testing.T) {
	b := Bounds{-10, -20, 30, 40}
	m := b.ToMercator()
	if !(m.MinX < m.MaxX && m.MinY < m.MaxY) {
		t.Fatalf("ToMercator(%+v) = %+v not ordered", b, m)
	}
	if got := m.ToLonLat(); !boundsNear(got, b, 1e-9) {
		t.Errorf("ToMercator().ToLonLat() = %+v, want %+v", got, b)
	}
	if got := (Bounds{-180, -90, 180, 90}).ToMercator(); !boundsNear(got, Tile{}.Mercator(), 1e-6) {
		t.Errorf("world ToMercator = %+v, want the z0 tile %+v", got, Tile{}.Mercator())
	}
}

// randBox returns a random lon/lat box inside the WebMercatorQuad world whose
// size ranges from a fraction of a tile to the whole world at zoom z.
func randBox(r *rand.Rand, z int) Bounds {
	n := math.Exp2(float64(z))
	span := math.Exp2(r.Float64()*(float64(z)+3)-3) / n // 1/8 tile .. whole world, in world units
	w, h := span*360, span*2*MaxLat
	if r.Intn(3) == 0 {
		h = math.Exp2(r.Float64()*(float64(z)+3)-3) / n * 2 * MaxLat
	}
	w, h = math.Min(w, 360), math.Min(h, 2*MaxLat)
	minx := -180 + r.Float64()*(360-w)
	miny := -MaxLat + r.Float64()*(2*MaxLat-h)
	return Bounds{minx, miny, math.Min(minx+w, 180), math.Min(miny+h, MaxLat)}
}

func rangeOf(z int) Range {
	n := 1 << uint(z)
	return Range{Z: z, MaxX: n - 1, MaxY: n - 1}
}

func TestCoverBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(seed))
	for z := 0; z <= 6; z++ {
		n := 1 << uint(z)
		for i := 0; i < 300; i++ {
			b := randBox(r, z)
			if err := b.Validate(); err != nil {
				t.Fatalf("bad random box %+v: %v", b, err)
			}
			cov := Cover(b, z)
			var found int64
			for y := 0; y < n; y++ {
				for x := 0; x < n; x++ {
					tile := Tile{z, x, y}
					hit := tile.LonLat().Intersects(b)
					if hit {
						found++
					}
					if hit != cov.Contains(tile) {
						t.Fatalf("Cover(%+v, %d) = %+v: tile %v intersects=%v contained=%v",
							b, z, cov, tile, hit, cov.Contains(tile))
					}
				}
			}
			if found != cov.Count() {
				t.Fatalf("Cover(%+v, %d) Count %d, brute force %d", b, z, cov.Count(), found)
			}
		}
	}
}

// TestCoverBoundary checks, at zooms too deep for brute force, that the tiles on
// the rim of the range intersect the box and those just outside it do not.
// Since tiles are axis-aligned in both CRSs, that is equivalent to brute force.
func TestCoverBoundary(t *testing.T) {
	r := rand.New(rand.NewSource(seed))
	for _, z := range propZooms {
		n := 1 << uint(z)
		for i := 0; i < samplesPerZoom; i++ {
			b := randBox(r, z)
			c := Cover(b, z)
			if err := (Tile{z, c.MinX, c.MinY}).Validate(); err != nil {
				t.Fatalf("Cover(%+v, %d) = %+v: %v", b, z, c, err)
			}
			if err := (Tile{z, c.MaxX, c.MaxY}).Validate(); err != nil {
				t.Fatalf("Cover(%+v, %d) = %+v: %v", b, z, c, err)
			}
			if c.MinX > c.MaxX || c.MinY > c.MaxY {
				t.Fatalf("Cover(%+v, %d) = %+v is inverted", b, z, c)
			}
			midX, midY := (c.MinX+c.MaxX)/2, (c.MinY+c.MaxY)/2
			inside := []Tile{
				{z, c.MinX, c.MinY}, {z, c.MaxX, c.MinY}, {z, c.MinX, c.MaxY}, {z, c.MaxX, c.MaxY},
				{z, midX, c.MinY}, {z, midX, c.MaxY}, {z, c.MinX, midY}, {z, c.MaxX, midY},
			}
			for _, tile := range inside {
				if !tile.LonLat().Intersects(b) {
					t.Fatalf("Cover(%+v, %d) = %+v includes %v which does not intersect it", b, z, c, tile)
				}
			}
			var outside []Tile
			if c.MinX > 0 {
				outside = append(outside, Tile{z, c.MinX - 1, midY})
			}
			if c.MaxX < n-1 {
				outside = append(outside, Tile{z, c.MaxX + 1, midY})
			}
			if c.MinY > 0 {
				outside = append(outside, Tile{z, midX, c.MinY - 1})
			}
			if c.MaxY < n-1 {
				outside = append(outside, Tile{z, midX, c.MaxY + 1})
			}
			for _, tile := range outside {
				if tile.LonLat().Intersects(b) {
					t.Fatalf("Cover(%+v, %d) = %+v misses %v which intersects it", b, z, c, tile)
				}
			}
		}
	}
}

// TestCoverTileAligned covers boxes whose edges are exactly tile edges: the
// result must be exactly those tiles, never the neighbours they touch.
func TestCoverTileAligned(t *testing.T) {
	r := rand.New(rand.NewSource(seed))
	for _, z := range propZooms {
		n := int64(1) << uint(z)
		for i := 0; i < samplesPerZoom; i++ {
			x0, y0 := int(r.Int63n(n)), int(r.Int63n(n))
			x1 := x0 + int(r.Int63n(min(n-int64(x0), 8)))
			y1 := y0 + int(r.Int63n(min(n-int64(y0), 8)))
			want := Range{Z: z, MinX: x0, MinY: y0, MaxX: x1, MaxY: y1}
			nw, se := Tile{z, x0, y0}.LonLat(), Tile{z, x1, y1}.LonLat()
			b := Bounds{MinX: nw.MinX, MaxY: nw.MaxY, MaxX: se.MaxX, MinY: se.MinY}
			if got := Cover(b, z); got != want {
				t.Fatalf("Cover(%+v, %d) = %+v, want %+v", b, z, got, want)
			}
		}
	}
}

func TestCoverEdgeTouching(t *testing.T) {
	forRandomTiles(t, func(t *testing.T, tile Tile) {
		n := 1 << uint(tile.Z)
		ll := tile.LonLat()
		w, h := (ll.MaxX-ll.MinX)/2, (ll.MaxY-ll.MinY)/2
		// A box lying just east of the tile and touching its east edge.
		if tile.X+1 < n {
			b := Bounds{ll.MaxX, ll.MinY, ll.MaxX + w, ll.MaxY}
			if c := Cover(b, tile.Z); c.Contains(tile) {
				t.Errorf("box %+v touching the east edge of %v covers it: %+v", b, tile, c)
			}
		}
		// A box lying just west of the tile and touching its west edge.
		if tile.X > 0 {
			b := Bounds{ll.MinX - w, ll.MinY, ll.MinX, ll.MaxY}
			if c := Cover(b, tile.Z); c.Contains(tile) {
				t.Errorf("box %+v touching the west edge of %v covers it: %+v", b, tile, c)
			}
		}
		// A box lying just south of the tile and touching its south edge.
		if tile.Y+1 < n {
			b := Bounds{ll.MinX, ll.MinY - h, ll.MaxX, ll.MinY}
			if c := Cover(b, tile.Z); c.Contains(tile) {
				t.Errorf("box %+v touching the south edge of %v covers it: %+v", b, tile, c)
			}
		}
		// A box lying just north of the tile and touching its north edge.
		if tile.Y > 0 {
			b := Bounds{ll.MinX, ll.MaxY, ll.MaxX, math.Min(ll.MaxY+h, 90)}
			if c := Cover(b, tile.Z); c.Contains(tile) {
				t.Errorf("box %+v touching the north edge of %v covers it: %+v", b, tile, c)
			}
		}
		// The tile's own bounds cover exactly the tile.
		if c := Cover(ll, tile.Z); c != (Range{tile.Z, tile.X, tile.Y, tile.X, tile.Y}) {
			t.Errorf("Cover(%v.LonLat()) = %+v, want just the tile", tile, c)
		}
		// A small box strictly inside the tile covers exactly the tile.
		cx, cy := ll.Center()
		inner := Bounds{cx - w/10, cy - h/10, cx + w/10, cy + h/10}
		if c := Cover(inner, tile.Z); c != (Range{tile.Z, tile.X, tile.Y, tile.X, tile.Y}) {
			t.Errorf("Cover(inner box of %v) = %+v, want just the tile", tile, c)
		}
	})
}

// TestCoverJustPastEdge checks that the snapping which keeps edge-touching boxes
// from picking up neighbours does not drop a neighbour the box really overlaps:
// a box reaching 1 mm past a tile edge includes the next tile, even at z30.
func TestCoverJustPastEdge(t *testing.T) {
	const reach = 1e-3 // metres
	forRandomTiles(t, func(t *testing.T, tile Tile) {
		n := 1 << uint(tile.Z)
		if tile.X == 0 || tile.Y == 0 || tile.X == n-1 || tile.Y == n-1 {
			return
		}
		m := tile.Mercator()
		b := Bounds{m.MinX - reach, m.MinY - reach, m.MaxX + reach, m.MaxY + reach}.ToLonLat()
		want := Range{tile.Z, tile.X - 1, tile.Y - 1, tile.X + 1, tile.Y + 1}
		if got := Cover(b, tile.Z); got != want {
			t.Errorf("Cover(%v grown by %v m) = %+v, want %+v", tile, reach, got, want)
		}
		b = Bounds{m.MinX + reach, m.MinY + reach, m.MaxX - reach, m.MaxY - reach}.ToLonLat()
		want = Range{tile.Z, tile.X, tile.Y, tile.X, tile.Y}
		if got := Cover(b, tile.Z); got != want {
			t.Errorf("Cover(%v shrunk by %v m) = %+v, want %+v", tile, reach, got, want)
		}
	})
}

func TestCoverWholeWorld(t *testing.T) {
	for z := 0; z <= MaxZoom; z++ {
		want := rangeOf(z)
		n := int64(1) << uint(z)
		for _, b := range []Bounds{
			{-180, -90, 180, 90},
			{-180, -MaxLat, 180, MaxLat},
		} {
			c := Cover(b, z)
			if c != want {
				t.Errorf("Cover(%+v, %d) = %+v, want %+v", b, z, c, want)
			}
			if c.Count() != n*n {
				t.Errorf("Cover(world, %d).Count() = %d, want %d", z, c.Count(), n*n)
			}
		}
	}
}

func TestCoverKnown(t *testing.T) {
	tests := []struct {
		name string
		b    Bounds
		z    int
		want Range
	}{
		{"western hemisphere z1", Bounds{-180, -90, 0, 90}, 1, Range{1, 0, 0, 0, 1}},
		{"north-east quadrant z1", Bounds{0, 0, 180, 90}, 1, Range{1, 1, 0, 1, 0}},
		{"north-east quadrant z2", Bounds{0, 0, 180, 90}, 2, Range{2, 2, 0, 3, 1}},
		{"straddling origin z3", Bounds{-1, -1, 1, 1}, 3, Range{3, 3, 3, 4, 4}},
		{"point-sized box at Berlin z10", Bounds{13.4, 52.5, 13.4 + 1e-9, 52.5 + 1e-9}, 10, Range{10, 550, 335, 550, 335}},
		{"beyond the globe clamps", Bounds{-200, -95, 200, 95}, 2, Range{2, 0, 0, 3, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Cover(tc.b, tc.z); got != tc.want {
				t.Errorf("Cover(%+v, %d) = %+v, want %+v", tc.b, tc.z, got, tc.want)
			}
		})
	}
}

func TestRangeCountMatchesEach(t *testing.T) {
	r := rand.New(rand.NewSource(seed))
	for _, z := range propZooms {
		for i := 0; i < 50; i++ {
			b := randBox(r, z)
			c := Cover(b, z)
			if c.Count() > 1<<14 {
				// Shrink big ranges so that Each stays cheap.
				c.MaxX = c.MinX + min(c.MaxX-c.MinX, 127)
				c.MaxY = c.MinY + min(c.MaxY-c.MinY, 127)
			}
			var got int64
			prev := Tile{Z: -1}
			c.Each(func(tile Tile) bool {
				got++
				if !c.Contains(tile) {
					t.Fatalf("Each(%+v) yielded %v outside the range", c, tile)
				}
				if prev.Z >= 0 && !(tile.Y > prev.Y || (tile.Y == prev.Y && tile.X == prev.X+1)) {
					t.Fatalf("Each(%+v) not row-major: %v after %v", c, tile, prev)
				}
				prev = tile
				return true
			})
			if got != c.Count() {
				t.Fatalf("Each(%+v) yielded %d tiles, Count = %d", c, got, c.Count())
			}
			if prev != (Tile{z, c.MaxX, c.MaxY}) {
				t.Fatalf("Each(%+v) ended at %v", c, prev)
			}
		}
	}
}

func TestRangeEachStops(t *testing.T) {
	rg := Range{Z: 5, MinX: 3, MinY: 4, MaxX: 9, MaxY: 10}
	for _, stop := range []int{1, 2, 7, 8, 48, 49} {
		calls := 0
		rg.Each(func(Tile) bool {
			calls++
			return calls < stop
		})
		if calls != stop {
			t.Errorf("Each stopping after %d tiles made %d calls", stop, calls)
		}
	}
	var seen []Tile
	rg.Each(func(tile Tile) bool {
		seen = append(seen, tile)
		return len(seen) < 3
	})
	want := []Tile{{5, 3, 4}, {5, 4, 4}, {5, 5, 4}}
	if len(seen) != len(want) {
		t.Fatalf("Each yielded %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("Each tile %d = %v, want %v", i, seen[i], want[i])
		}
	}
}

func TestRangeContainsAndCount(t *testing.T) {
	rg := Range{Z: 4, MinX: 2, MinY: 3, MaxX: 5, MaxY: 3}
	if got := rg.Count(); got != 4 {
		t.Errorf("Count = %d, want 4", got)
	}
	tests := []struct {
		tile Tile
		want bool
	}{
		{Tile{4, 2, 3}, true},
		{Tile{4, 5, 3}, true},
		{Tile{4, 3, 3}, true},
		{Tile{4, 1, 3}, false},
		{Tile{4, 6, 3}, false},
		{Tile{4, 3, 2}, false},
		{Tile{4, 3, 4}, false},
		{Tile{3, 3, 3}, false},
		{Tile{5, 3, 3}, false},
	}
	for _, tc := range tests {
		if got := rg.Contains(tc.tile); got != tc.want {
			t.Errorf("%+v.Contains(%v) = %v, want %v", rg, tc.tile, got, tc.want)
		}
	}
	if got := rangeOf(MaxZoom).Count(); got != 1<<(2*MaxZoom) {
		t.Errorf("Count at z%d = %d, want %d", MaxZoom, got, int64(1)<<(2*MaxZoom))
	}
}

func TestParseBounds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Bounds
		err  string
	}{
		{"-10,35,30,60", Bounds{-10, 35, 30, 60}, ""},
		{" [ -10, 35 , 30,60 ] ", Bounds{-10, 35, 30, 60}, ""},
		{"1,2,3", Bounds{}, "want xmin,ymin,xmax,ymax"},
		{"a,2,3,4", Bounds{}, "as numbers"},
		{"10,0,-10,5", Bounds{}, "xmin"},
		{"0,0,1,91", Bounds{}, "within -180,-90,180,90"},
	} {
		got, err := ParseBounds(c.in)
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("ParseBounds(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseBounds(%q) error %v, want one saying %q", c.in, err, c.err)
		}
	}
}
