package cog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/tiles"
)

// Where a mosaic's files come from: a list, a glob or a directory (each
// file opened once to learn its footprint), or a document that lists them
// with their footprints: a STAC ItemCollection, a MosaicJSON, a GeoJSON,
// FlatGeobuf, GeoPackage or Shapefile index (as gdaltindex writes) or a
// GeoParquet one (mosaic_parquet.go).

// Mosaic source kinds, as /info names them.
const (
	kindList       = "list"
	kindGlob       = "glob"
	kindDirectory  = "directory"
	kindSTAC       = "stac"
	kindMosaicJSON = "mosaicjson"
	kindIndex      = "index"
)

// indexExts are the extensions of footprint index files read through OGR.
var indexExts = []string{".fgb", ".gpkg", ".shp"}

// jsonExts are those of JSON documents: STAC, MosaicJSON or a GeoJSON index.
var jsonExts = []string{".json", ".geojson"}

// parquetExts are those of GeoParquet indexes.
var parquetExts = []string{".parquet", ".geoparquet"}

// IsMosaic reports whether a cog layer's path names several files: a list,
// a glob (*, ? or [), a directory, or an index document (by its extension).
func IsMosaic(p string, paths []string) bool {
	return mosaicKind(p, paths) != ""
}

func mosaicKind(p string, paths []string) string {
	ext := strings.ToLower(filepath.Ext(p))
	switch {
	case len(paths) > 0:
		return kindList
	case strings.HasPrefix(p, "/vsi"):
		// Remote: no globs or folders; index documents only.
		if slices.Contains(jsonExts, ext) || slices.Contains(indexExts, ext) {
			return kindIndex
		}
		return ""
	case strings.ContainsAny(p, "*?["):
		return kindGlob
	case strings.HasSuffix(p, "/") || isDir(p):
		return kindDirectory
	case slices.Contains(jsonExts, ext) || slices.Contains(indexExts, ext) || slices.Contains(parquetExts, ext):
		return kindIndex // which one is known once read
	}
	return ""
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// isRaster reports whether a directory entry is one of a mosaic's files.
func isRaster(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return (ext == ".tif" || ext == ".tiff") && !strings.HasPrefix(name, ".")
}

// fileStat is one file of a listed source, with what tells a changed file.
type fileStat struct {
	path string
	size int64
	mod  int64 // unix nanoseconds; 0 for remote files
}

// listFiles returns the files of a list, glob or directory source, in the
// mosaic's order: a list's own, else by name.
func listFiles(kind, p string, paths []string) ([]fileStat, error) {
	var names []string
	switch kind {
	case kindList:
		names = paths
	case kindGlob:
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("path %s: %v", p, err)
		}
		for _, f := range m {
			if isRaster(filepath.Base(f)) {
				names = append(names, f)
			}
		}
	case kindDirectory:
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("cannot list %s: %v", p, err)
		}
		for _, e := range ents {
			if !e.IsDir() && isRaster(e.Name()) {
				names = append(names, filepath.Join(p, e.Name()))
			}
		}
	}
	if kind != kindList {
		slices.Sort(names)
	}
	out := make([]fileStat, 0, len(names))
	for _, n := range names {
		fs := fileStat{path: n}
		if !strings.HasPrefix(n, "/vsi") {
			if st, err := os.Stat(n); err == nil {
				fs.size, fs.mod = st.Size(), st.ModTime().UnixNano()
			} else {
				fs.size = -1 // missing: opened (and reported) when scanned
			}
		}
		out = append(out, fs)
	}
	return out, nil
}

// stampOf fingerprints a listed source's files, or an index document.
func stampOf(files []fileStat) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s|%d|%d\n", f.path, f.size, f.mod)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// scanned is what a mosaic learns of a file by opening it once.
type scanned struct {
	lonlat           tiles.Bounds
	bands            int
	dtype            godal.DataType
	minZoom, maxZoom int
}

// scanFile opens a file and reads its footprint, bands and zooms.
func scanFile(p string) (scanned, error) {
	ds, err := godal.Open(p, godal.RasterOnly(), godal.ConfigOption("GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR"))
	if err != nil {
		return scanned{}, fmt.Errorf("cannot open %s: %v", p, err)
	}
	defer ds.Close()
	st := ds.Structure()
	if st.NBands == 0 {
		return scanned{}, fmt.Errorf("%s: the file has no raster bands", p)
	}
	if ds.Projection() == "" {
		return scanned{}, fmt.Errorf("%s: the file has no coordinate reference system", p)
	}
	gt, err := ds.GeoTransform()
	if err != nil {
		return scanned{}, fmt.Errorf("%s: the file has no geotransform: %v", p, err)
	}
	if _, ok := numpyType[st.DataType]; !ok {
		return scanned{}, fmt.Errorf("%s: sample type %s is not supported", p, st.DataType)
	}
	// The outline, densified, in the file's CRS.
	px, py := outline(0, 0, float64(st.SizeX), float64(st.SizeY))
	for i := range px {
		px[i], py[i] = gt[0]+px[i]*gt[1]+py[i]*gt[2], gt[3]+px[i]*gt[4]+py[i]*gt[5]
	}
	sr := ds.SpatialRef()
	defer sr.Close()
	ll, err := toLonLat(sr, px, py)
	if err != nil {
		return scanned{}, fmt.Errorf("%s: %v", p, err)
	}
	s := scanned{lonlat: ll, bands: st.NBands, dtype: st.DataType}
	merc := ll.ToMercator()
	res := (merc.MaxX - merc.MinX) / float64(st.SizeX)
	s.maxZoom = zoomForRes(res, 256)
	coarsest := res
	if ovs := ds.Bands()[0].Overviews(); len(ovs) > 0 {
		coarsest = res * float64(st.SizeX) / float64(ovs[len(ovs)-1].Structure().SizeX)
	}
	s.minZoom = min(max(0, zoomForRes(coarsest, 256)-3), s.maxZoom)
	return s, nil
}

// outline returns points along the edges of a box, 16 segments a side.
func outline(x0, y0, x1, y1 float64) (xs, ys []float64) {
	const n = 16
	for i := 0; i <= n; i++ {
		f := float64(i) / n
		x, y := x0+f*(x1-x0), y0+f*(y1-y0)
		xs = append(xs, x, x, x0, x1)
		ys = append(ys, y0, y1, y, y)
	}
	return xs, ys
}

// toLonLat transforms points from sr (nil: already lon/lat) in place and
// returns their envelope.
func toLonLat(sr *godal.SpatialRef, xs, ys []float64) (tiles.Bounds, error) {
	ok := make([]bool, len(xs))
	for i := range ok {
		ok[i] = true
	}
	if sr != nil {
		ll, err := wgs84()
		if err != nil {
			return tiles.Bounds{}, err
		}
		defer ll.Close()
		if !sr.IsSame(ll) {
			tr, err := godal.NewTransform(sr, ll)
			if err != nil {
				return tiles.Bounds{}, fmt.Errorf("cannot transform to EPSG:4326: %v", err)
			}
			defer tr.Close()
			// Points that do not transform are left out; none is an error below.
			_ = tr.TransformEx(xs, ys, nil, ok)
		}
	}
	b := tiles.Bounds{MinX: math.Inf(1), MinY: math.Inf(1), MaxX: math.Inf(-1), MaxY: math.Inf(-1)}
	for i := range xs {
		if !ok[i] || math.IsNaN(xs[i]) || math.IsNaN(ys[i]) || math.IsInf(xs[i], 0) || math.IsInf(ys[i], 0) {
			continue
		}
		b = union(b, tiles.Bounds{MinX: xs[i], MinY: ys[i], MaxX: xs[i], MaxY: ys[i]})
	}
	if b.MinX > b.MaxX {
		return b, fmt.Errorf("the footprint cannot be transformed to EPSG:4326")
	}
	return clampLonLat(b), nil
}

// clampLonLat keeps a lon/lat box inside the world; a box crossing the
// antimeridian (west > east) spans every longitude.
func clampLonLat(b tiles.Bounds) tiles.Bounds {
	if b.MinX > b.MaxX {
		b.MinX, b.MaxX = -180, 180
	}
	b.MinX, b.MaxX = max(-180, b.MinX), min(180, b.MaxX)
	b.MinY, b.MaxY = max(-90, b.MinY), min(90, b.MaxY)
	return b
}

// scanFiles scans the files not in cache (keyed by path, size and time),
// a few at a time, and returns every file's scan; the first error met is
// returned with the rest.
func scanFiles(files []fileStat, cache map[fileStat]scanned) (map[fileStat]scanned, error) {
	out := make(map[fileStat]scanned, len(files))
	var todo []fileStat
	for _, f := range files {
		if s, ok := cache[f]; ok {
			out[f] = s
		} else {
			todo = append(todo, f)
		}
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan fileStat)
	)
	for range min(4, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next {
				s, err := scanFile(f.path)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				} else if err == nil {
					out[f] = s
				}
				mu.Unlock()
			}
		}()
	}
	for _, f := range todo {
		next <- f
	}
	close(next)
	wg.Wait()
	return out, first
}

// listedIndex indexes scanned files, refusing files whose bands or sample
// type differ from the first's.
func listedIndex(kind string, files []fileStat, scans map[fileStat]scanned) (*mosaicIndex, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no files (GeoTIFFs named .tif or .tiff)")
	}
	names := make([]string, len(files))
	fps := make([]footprint, len(files))
	first := scans[files[0]]
	lo, hi := tiles.MaxZoom, 0
	for i, f := range files {
		s := scans[f]
		if s.bands != first.bands || s.dtype != first.dtype {
			return nil, fmt.Errorf("%s has %s; %s has %s: every file of a mosaic must have the same bands and sample type",
				f.path, bandsOf(s.bands, s.dtype), files[0].path, bandsOf(first.bands, first.dtype))
		}
		names[i] = f.path
		fps[i] = footprint{file: i, order: i, box: s.lonlat.ToMercator()}
		lo, hi = min(lo, s.minZoom), max(hi, s.maxZoom)
	}
	x := newMosaicIndex(kind, names, fps)
	x.bands, x.dtype, x.minZoom, x.maxZoom = first.bands, first.dtype, lo, hi
	return x, nil
}

func bandsOf(n int, dt godal.DataType) string {
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%d band%s of %s", n, s, numpyType[dt])
}

// readIndex reads an index document: the files and their footprints (in
// lon/lat, the file's order the order of the document), and the zooms it
// gives (MosaicJSON's), -1 when it gives none.
func readIndex(p, asset string) (kind string, files []string, fps []footprint, minZoom, maxZoom int, err error) {
	minZoom, maxZoom = -1, -1
	ext := strings.ToLower(filepath.Ext(p))
	switch {
	case slices.Contains(parquetExts, ext):
		files, fps, err = readParquetIndex(p)
		return kindIndex, files, fps, minZoom, maxZoom, err
	case slices.Contains(jsonExts, ext):
		b, err := readAll(p)
		if err != nil {
			return "", nil, nil, 0, 0, err
		}
		var head struct {
			MosaicJSON string `json:"mosaicjson"`
			Type       string `json:"type"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return "", nil, nil, 0, 0, fmt.Errorf("%s: not JSON: %v", p, err)
		}
		switch {
		case head.MosaicJSON != "":
			files, fps, minZoom, maxZoom, err = readMosaicJSON(p, b)
			return kindMosaicJSON, files, fps, minZoom, maxZoom, err
		case head.Type == "FeatureCollection":
			kind, files, fps, err = readFeatureCollection(p, b, asset)
			return kind, files, fps, minZoom, maxZoom, err
		}
		if head.Type == "Feature" {
			return "", nil, nil, 0, 0, fmt.Errorf("%s: a single STAC Item (type Feature) is served by handler stac; a cog mosaic wants an ItemCollection (a FeatureCollection of items)", p)
		}
		return "", nil, nil, 0, 0, fmt.Errorf("%s: want a STAC ItemCollection, a GeoJSON FeatureCollection of footprints or a MosaicJSON document", p)
	}
	files, fps, err = readOGRIndex(p)
	return kindIndex, files, fps, minZoom, maxZoom, err
}

// readAll reads a local file or one GDAL reaches (/vsis3/..., /vsicurl/...).
func readAll(p string) ([]byte, error) {
	if !strings.HasPrefix(p, "/vsi") {
		return os.ReadFile(p)
	}
	f, err := godal.VSIOpen(p)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %v", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIndexBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", p, err)
	}
	if len(b) > maxIndexBytes {
		return nil, fmt.Errorf("%s: over %d MB; split the mosaic or use a FlatGeobuf index", p, maxIndexBytes>>20)
	}
	return b, nil
}

// maxIndexBytes bounds a remote JSON index document.
const maxIndexBytes = 256 << 20

// indexStamp fingerprints an index document: its size and time, or for a
// remote one its path (it is read again when the layer is reloaded).
func indexStamp(p string) string {
	fs := fileStat{path: p}
	if st, err := os.Stat(p); err == nil {
		fs.size, fs.mod = st.Size(), st.ModTime().UnixNano()
	}
	return stampOf([]fileStat{fs})
}

// hrefPath turns a file named in an index into a path GDAL opens: URLs to
// /vsicurl/ (http), /vsis3/ (s3://), /vsigs/ (gs://) and /vsiaz/ (az://);
// a relative path is taken from the index's folder.
func hrefPath(index, href string) string {
	if p, ok := vsiPath(href); ok {
		return p
	}
	if rest, ok := strings.CutPrefix(href, "file://"); ok {
		return rest
	}
	if strings.HasPrefix(href, "/") {
		return href
	}
	if strings.HasPrefix(index, "/vsi") {
		return path.Join(path.Dir(index), href)
	}
	return filepath.Join(filepath.Dir(index), href)
}

// vsiPath is the GDAL path of a URL GDAL reads through a virtual file
// system: http(s):// through /vsicurl/, s3://, gs:// and az:// through
// /vsis3/, /vsigs/ and /vsiaz/; ok = false for anything else.
func vsiPath(href string) (string, bool) {
	for _, m := range []struct{ scheme, vsi string }{
		{"http://", "/vsicurl/http://"}, {"https://", "/vsicurl/https://"},
		{"s3://", "/vsis3/"}, {"gs://", "/vsigs/"}, {"az://", "/vsiaz/"},
	} {
		if rest, ok := strings.CutPrefix(href, m.scheme); ok {
			return m.vsi + rest, true
		}
	}
	return "", false
}

// lonLatBox turns a lon/lat box into a footprint's EPSG:3857 box.
func lonLatBox(b tiles.Bounds) tiles.Bounds { return clampLonLat(b).ToMercator() }

// readMosaicJSON reads a MosaicJSON document: each quadkey lists the files
// read for the tiles inside it, in order. Each (quadkey, file) is a
// footprint; files are read in the order of the quadkey's list.
func readMosaicJSON(p string, b []byte) (files []string, fps []footprint, minZoom, maxZoom int, err error) {
	var doc struct {
		MinZoom     *int                `json:"minzoom"`
		MaxZoom     *int                `json:"maxzoom"`
		QuadkeyZoom *int                `json:"quadkey_zoom"`
		Tiles       map[string][]string `json:"tiles"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("%s: not a MosaicJSON document: %v", p, err)
	}
	if doc.MinZoom == nil || doc.MaxZoom == nil || *doc.MinZoom < 0 || *doc.MaxZoom > tiles.MaxZoom || *doc.MinZoom > *doc.MaxZoom {
		return nil, nil, 0, 0, fmt.Errorf("%s: want minzoom and maxzoom, 0 <= minzoom <= maxzoom <= %d", p, tiles.MaxZoom)
	}
	qz := *doc.MinZoom
	if doc.QuadkeyZoom != nil {
		qz = *doc.QuadkeyZoom
	}
	keys := make([]string, 0, len(doc.Tiles))
	for k := range doc.Tiles {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ids := map[string]int{}
	for _, k := range keys {
		t, ok := quadkeyTile(k)
		if !ok || t.Z != qz {
			return nil, nil, 0, 0, fmt.Errorf("%s: tiles: %q is not a quadkey of zoom %d", p, k, qz)
		}
		for _, f := range doc.Tiles[k] {
			f = hrefPath(p, f)
			id, seen := ids[f]
			if !seen {
				id = len(files)
				ids[f] = id
				files = append(files, f)
			}
			fps = append(fps, footprint{file: id, order: len(fps), box: t.Mercator()})
		}
	}
	if len(files) == 0 {
		return nil, nil, 0, 0, fmt.Errorf("%s: the MosaicJSON lists no files", p)
	}
	return files, fps, *doc.MinZoom, *doc.MaxZoom, nil
}

// quadkeyTile parses a Bing quadkey.
func quadkeyTile(k string) (tiles.Tile, bool) {
	t := tiles.Tile{Z: len(k)}
	if t.Z > tiles.MaxZoom {
		return t, false
	}
	for i, c := range k {
		bit := 1 << (t.Z - 1 - i)
		switch c {
		case '0':
		case '1':
			t.X |= bit
		case '2':
			t.Y |= bit
		case '3':
			t.X |= bit
			t.Y |= bit
		default:
			return t, false
		}
	}
	return t, true
}

// readFeatureCollection reads a STAC ItemCollection (features with assets:
// the footprint is the item's bbox, or its geometry's, and the file the
// asset named, else its first GeoTIFF) or a GeoJSON footprint index
// (properties location or path name the file).
func readFeatureCollection(p string, b []byte, asset string) (kind string, files []string, fps []footprint, err error) {
	var doc struct {
		Features []struct {
			ID         string                     `json:"id"`
			BBox       []float64                  `json:"bbox"`
			Geometry   json.RawMessage            `json:"geometry"`
			Assets     json.RawMessage            `json:"assets"`
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", nil, nil, fmt.Errorf("%s: not a FeatureCollection: %v", p, err)
	}
	if len(doc.Features) == 0 {
		return "", nil, nil, fmt.Errorf("%s: the FeatureCollection has no features", p)
	}
	kind = kindIndex
	if len(doc.Features[0].Assets) > 0 {
		kind = kindSTAC
	}
	ids := map[string]int{}
	for i, f := range doc.Features {
		name := fmt.Sprintf("features[%d]", i)
		if f.ID != "" {
			name = fmt.Sprintf("item %q", f.ID)
		}
		var href string
		if kind == kindSTAC {
			if href, err = pickSTACAsset(f.Assets, asset); err != nil {
				return "", nil, nil, fmt.Errorf("%s: %s: %v", p, name, err)
			}
		} else {
			for _, k := range []string{"location", "path"} {
				if raw, ok := f.Properties[k]; ok && json.Unmarshal(raw, &href) == nil && href != "" {
					break
				}
			}
			if href == "" {
				return "", nil, nil, fmt.Errorf("%s: %s: no property location or path naming its file (and no STAC assets)", p, name)
			}
		}
		var box tiles.Bounds
		switch {
		case len(f.BBox) == 4:
			box = tiles.Bounds{MinX: f.BBox[0], MinY: f.BBox[1], MaxX: f.BBox[2], MaxY: f.BBox[3]}
		case len(f.BBox) == 6:
			box = tiles.Bounds{MinX: f.BBox[0], MinY: f.BBox[1], MaxX: f.BBox[3], MaxY: f.BBox[4]}
		default:
			var ok bool
			if box, ok = geoJSONBox(f.Geometry); !ok {
				return "", nil, nil, fmt.Errorf("%s: %s: no bbox and no geometry", p, name)
			}
		}
		href = hrefPath(p, href)
		id, seen := ids[href]
		if !seen {
			id = len(files)
			ids[href] = id
			files = append(files, href)
		}
		fps = append(fps, footprint{file: id, order: i, box: lonLatBox(box)})
	}
	return kind, files, fps, nil
}

// pickSTACAsset picks the href of an item's asset: the one named, else the
// first (in the document's order) whose media type or file name says
// GeoTIFF.
func pickSTACAsset(raw json.RawMessage, want string) (string, error) {
	type asset struct {
		Href string `json:"href"`
		Type string `json:"type"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", fmt.Errorf("assets: want an object")
	}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("assets: %v", err)
		}
		key, _ := tok.(string)
		var a asset
		if err := dec.Decode(&a); err != nil {
			return "", fmt.Errorf("assets.%s: %v", key, err)
		}
		names = append(names, key)
		if want != "" {
			if key == want {
				if a.Href == "" {
					return "", fmt.Errorf("asset %s has no href", key)
				}
				return a.Href, nil
			}
			continue
		}
		ext := strings.ToLower(path.Ext(strings.SplitN(a.Href, "?", 2)[0]))
		if a.Href != "" && (strings.Contains(strings.ToLower(a.Type), "geotiff") || ((a.Type == "" || strings.HasPrefix(a.Type, "image/tiff")) && (ext == ".tif" || ext == ".tiff"))) {
			return a.Href, nil
		}
	}
	if want != "" {
		return "", fmt.Errorf("no asset %q (it has %s)", want, strings.Join(names, ", "))
	}
	return "", fmt.Errorf("no GeoTIFF asset (it has %s): name the one to read in the layer's assets", strings.Join(names, ", "))
}

// geoJSONBox is the envelope of a GeoJSON geometry's coordinates.
func geoJSONBox(raw json.RawMessage) (tiles.Bounds, bool) {
	var g struct {
		Coordinates any   `json:"coordinates"`
		Geometries  []any `json:"geometries"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &g) != nil {
		return tiles.Bounds{}, false
	}
	b := tiles.Bounds{MinX: math.Inf(1), MinY: math.Inf(1), MaxX: math.Inf(-1), MaxY: math.Inf(-1)}
	var walk func(v any)
	walk = func(v any) {
		switch a := v.(type) {
		case []any:
			if len(a) >= 2 {
				x, okx := a[0].(float64)
				y, oky := a[1].(float64)
				if okx && oky {
					b = union(b, tiles.Bounds{MinX: x, MinY: y, MaxX: x, MaxY: y})
					return
				}
			}
			for _, c := range a {
				walk(c)
			}
		case map[string]any:
			walk(a["coordinates"])
			walk(a["geometries"])
		}
	}
	walk(g.Coordinates)
	for _, sub := range g.Geometries {
		walk(sub)
	}
	return b, b.MinX <= b.MaxX
}

// readOGRIndex reads a footprint index through OGR (FlatGeobuf, GeoPackage,
// Shapefile, as gdaltindex writes): each feature's geometry is a footprint,
// its location (or path) field the file.
func readOGRIndex(p string) (files []string, fps []footprint, err error) {
	ds, err := godal.Open(p, godal.VectorOnly())
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open the index %s: %v", p, err)
	}
	defer ds.Close()
	layers := ds.Layers()
	if len(layers) == 0 {
		return nil, nil, fmt.Errorf("%s: no layer", p)
	}
	l := layers[0]
	sr := l.SpatialRef()
	if sr != nil {
		defer sr.Close()
	}
	ids := map[string]int{}
	l.ResetReading()
	for i := 0; ; i++ {
		f := l.NextFeature()
		if f == nil {
			break
		}
		href, ok := "", false
		fields := f.Fields()
		for _, k := range []string{"location", "path"} {
			for name, fld := range fields {
				if strings.EqualFold(name, k) && fld.IsSet() && fld.String() != "" {
					href, ok = fld.String(), true
					break
				}
			}
			if ok {
				break
			}
		}
		g := f.Geometry()
		empty := g.Empty() // also for a feature without a geometry
		var env [4]float64
		if !empty {
			env, err = g.Bounds()
		}
		f.Close()
		if !ok {
			return nil, nil, fmt.Errorf("%s: feature %d has no field location or path naming its file", p, i)
		}
		if empty || err != nil {
			return nil, nil, fmt.Errorf("%s: feature %d (%s) has no geometry", p, i, href)
		}
		xs, ys := outline(env[0], env[1], env[2], env[3])
		box, err := toLonLat(sr, xs, ys)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: feature %d: %v", p, i, err)
		}
		href = hrefPath(p, href)
		id, seen := ids[href]
		if !seen {
			id = len(files)
			ids[href] = id
			files = append(files, href)
		}
		fps = append(fps, footprint{file: id, order: i, box: box.ToMercator()})
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("%s: the index has no features", p)
	}
	return files, fps, nil
}

// MosaicFiles lists the files a mosaic layer reads now (IsMosaic): those
// of its list, glob or directory, or those its index names. A private
// layer's files are kept from url= with them.
func MosaicFiles(p string, paths []string, asset string) ([]string, error) {
	switch kind := mosaicKind(p, paths); kind {
	case "":
		return nil, nil
	case kindList, kindGlob, kindDirectory:
		files, err := listFiles(kind, p, paths)
		out := make([]string, len(files))
		for i, f := range files {
			out[i] = f.path
		}
		return out, err
	}
	_, files, _, _, _, err := readIndex(p, asset)
	return files, err
}
