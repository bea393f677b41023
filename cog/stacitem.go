package cog

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airbusgeo/godal"
	"github.com/udftiles/udftiles/layer"
)

// A STAC Item as the STAC handler reads it (stac.go): its bbox and its
// assets, and where the assets' files are.

// maxItemBytes bounds the item document read.
const maxItemBytes = 4 << 20

// stacItem is what is read of a STAC Item.
type stacItem struct {
	Type   string               `json:"type"`
	ID     string               `json:"id"`
	BBox   []float64            `json:"bbox"`
	Assets map[string]itemAsset `json:"assets"`
}

// itemAsset is one of an item's assets.
type itemAsset struct {
	Href  string   `json:"href"`
	Type  string   `json:"type"`
	Roles []string `json:"roles"`
}

// rasterTypes are the media types of the assets served: GeoTIFFs, COGs among
// them, in the spellings STAC catalogues use (parameters after ";" aside).
var rasterTypes = []string{"image/tiff", "image/vnd.stac.geotiff", "image/x.geotiff", "application/x-geotiff", "image/geotiff"}

// raster reports whether the asset is a GeoTIFF: its media type says so,
// or, without one, its href ends in .tif or .tiff.
func (a itemAsset) raster() bool {
	if a.Type != "" {
		t, _, _ := strings.Cut(a.Type, ";")
		return slices.Contains(rasterTypes, strings.ToLower(strings.TrimSpace(t)))
	}
	p := a.Href
	if u, err := url.Parse(a.Href); err == nil && u.Scheme != "" {
		p = u.Path
	}
	ext := strings.ToLower(filepath.Ext(p))
	return ext == ".tif" || ext == ".tiff"
}

// rasterAssets lists the names of the item's raster assets, sorted.
func (it *stacItem) rasterAssets() []string {
	var names []string
	for name, a := range it.Assets {
		if a.raster() {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// readItem reads and parses the item at a GDAL path (a local path, /vsicurl/
// or /vsis3/), through GDAL's file system so that remote items are fetched
// as the COGs are, with the same settings and credentials.
func readItem(path string) (*stacItem, error) {
	if strings.HasPrefix(path, "/vsi") {
		// VSIOpen of a remote file that cannot be had says no more than
		// "unknown error" (and GDAL then remembers it as missing): an open
		// by GDAL's GeoJSON driver first tells a missing item (HTTP 404)
		// from a refused or unreachable one. The item's bytes it fetched
		// stay in GDAL's cache for the read below.
		ds, err := godal.Open(path, godal.VectorOnly(), godal.Drivers("GeoJSON"))
		if err != nil && !strings.Contains(err.Error(), "not recognized as") {
			return nil, fmt.Errorf("cannot open %s: %v", path, err)
		}
		if ds != nil {
			ds.Close()
		}
	}
	f, err := godal.VSIOpen(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %v", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxItemBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, err)
	}
	if len(b) > maxItemBytes {
		return nil, errNotItem(fmt.Sprintf("larger than %d MiB", maxItemBytes>>20))
	}
	return parseItem(b)
}

// errNotItem is a document that is not a STAC Item the handler serves: a
// BadRequest when a request named it.
func errNotItem(why string) error {
	return &layer.Error{Kind: layer.BadRequest, Msg: "not a STAC Item: " + why}
}

func parseItem(b []byte) (*stacItem, error) {
	var it stacItem
	if err := json.Unmarshal(b, &it); err != nil {
		return nil, errNotItem("not JSON of an item (" + err.Error() + ")")
	}
	switch {
	case it.Type == "FeatureCollection":
		return nil, errNotItem("an ItemCollection (a FeatureCollection); a STAC layer serves one Item (type Feature)")
	case it.Type != "Feature":
		return nil, errNotItem(fmt.Sprintf("type %q, want Feature", it.Type))
	case len(it.Assets) == 0:
		return nil, errNotItem("the item has no assets")
	}
	if len(it.BBox) != 4 && len(it.BBox) != 6 {
		it.BBox = nil
	}
	if len(it.BBox) == 6 { // 3D: minx, miny, minz, maxx, maxy, maxz
		it.BBox = []float64{it.BBox[0], it.BBox[1], it.BBox[3], it.BBox[4]}
	}
	return &it, nil
}

// resolveHref resolves an asset's href against the item's location (an
// absolute path, or an http(s):// or s3:// URL), as a browser resolves a
// link: the result is an absolute path or a URL.
func resolveHref(base, href string) (string, error) {
	if href == "" {
		return "", fmt.Errorf("no href")
	}
	h, err := url.Parse(href)
	if err != nil {
		return "", fmt.Errorf("href %q is not a URL or a path", href)
	}
	switch strings.ToLower(h.Scheme) {
	case "http", "https", "s3":
		return href, nil
	case "file":
		if h.Host != "" && h.Host != "localhost" {
			return "", fmt.Errorf("href %q: a file:// URL of another host", href)
		}
		return filepath.Clean(h.Path), nil
	case "":
	default:
		return "", fmt.Errorf("href %q: scheme %s:// is not served (http, https, s3 or a path)", href, h.Scheme)
	}
	if b, err := url.Parse(base); err == nil && b.Scheme != "" && b.Host != "" {
		return b.ResolveReference(h).String(), nil
	}
	if filepath.IsAbs(href) {
		return filepath.Clean(href), nil
	}
	return filepath.Join(filepath.Dir(base), filepath.FromSlash(h.Path)), nil
}

// gdalPathOf is the path GDAL opens for a resolved href: URLs through
// /vsicurl/ or /vsis3/, paths as they are.
func gdalPathOf(href string) string {
	if p, ok := vsiPath(href); ok {
		return p
	}
	return href
}

// STACAssetFiles lists the files of an item's raster assets (the paths GDAL
// opens): a private STAC layer's files, which url= must not serve either.
func STACAssetFiles(itemPath string) ([]string, error) {
	p, base := itemLocation(itemPath, "")
	it, err := readItem(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range it.rasterAssets() {
		if href, err := resolveHref(base, it.Assets[name].Href); err == nil {
			out = append(out, gdalPathOf(href))
		}
	}
	return out, nil
}

// itemLocation is where GDAL reads an item given as a path or URL, and
// where its relative hrefs resolve against (href when given).
func itemLocation(p, href string) (gdalPath, base string) {
	switch {
	case href != "":
		return gdalPathOf(p), href
	case strings.HasPrefix(p, "/vsicurl/"):
		return p, strings.TrimPrefix(p, "/vsicurl/")
	case strings.HasPrefix(p, "/vsis3/"):
		return p, "s3://" + strings.TrimPrefix(p, "/vsis3/")
	case strings.Contains(p, "://"):
		return gdalPathOf(p), p
	}
	return p, p
}
