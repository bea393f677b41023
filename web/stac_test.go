package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/web"
)

// writeItem writes a STAC Item whose assets have the given hrefs (a
// GeoTIFF's media type unless the href says .png).
func writeItem(t *testing.T, path string, hrefs map[string]string) {
	t.Helper()
	assets := map[string]any{}
	for name, href := range hrefs {
		typ := "image/tiff; application=geotiff; profile=cloud-optimized"
		if strings.HasSuffix(href, ".png") {
			typ = "image/png"
		}
		assets[name] = map[string]any{"href": href, "type": typ}
	}
	b, _ := json.Marshal(map[string]any{"type": "Feature", "stac_version": "1.0.0", "id": "demo", "geometry": nil,
		"properties": map[string]any{}, "assets": assets})
	writeFile(t, path, b)
}

// TestSTACByURL serves a STAC Item named by url=, local and over HTTP: its
// assets' tiles are the configured COG layers' very tiles (assets=,
// asset_bidx=, expression= as bidx= and expression= give them); an asset
// outside cog_urls.allow, or a private layer's file, is refused as url=
// would refuse it.
func TestSTACByURL(t *testing.T) {
	e := newTestServer(t)
	root := t.TempDir()
	allowed, secret := filepath.Join(root, "allowed"), filepath.Join(root, "secret")
	os.MkdirAll(filepath.Join(allowed, "sub"), 0o755)
	os.MkdirAll(secret, 0o755)
	copyFile(t, e.demoPath, filepath.Join(allowed, "dem.tif"))
	copyFile(t, filepath.Join(filepath.Dir(e.demoPath), "rgb.tif"), filepath.Join(allowed, "sub", "rgb.tif"))
	copyFile(t, e.demoPath, filepath.Join(secret, "dem.tif"))
	copyFile(t, e.demoPath, filepath.Join(allowed, "private.tif"))
	if err := os.Symlink(filepath.Join(secret, "dem.tif"), filepath.Join(allowed, "link.tif")); err != nil {
		t.Fatal(err)
	}
	hrefs := map[string]string{"dem": "./dem.tif", "rgb": "sub/rgb.tif", "thumbnail": "thumb.png",
		"outside": "../secret/dem.tif", "link": "link.tif", "private": "private.tif", "metadata": "http://169.254.169.254/latest/meta-data/x.tif"}
	item := filepath.Join(allowed, "item.json")
	writeItem(t, item, hrefs)
	writeFile(t, filepath.Join(allowed, "notes.json"), []byte(`{"type": "FeatureCollection", "features": []}`))
	hs := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer hs.Close()
	open := func(p string) (layer.Handler, error) {
		return cog.New(cog.Options{Path: p, Drivers: cog.URLDrivers}), nil
	}
	h := e.withDeps(t, web.Deps{COGAllow: []string{allowed, hs.URL + "/allowed/"}, COGSource: open, COGMaxAge: time.Hour,
		PrivateFiles: []string{filepath.Join(allowed, "private.tif"), "/vsicurl/" + hs.URL + "/allowed/private.tif"}})
	tile := e.centerTile(8) // within both layers' zooms
	get := func(target string, code int) *httptest.ResponseRecorder {
		t.Helper()
		rec := do(h, "GET", target)
		if rec.Code != code {
			t.Errorf("%s: %d, want %d: %.300s", target, rec.Code, code, rec.Body)
		}
		return rec
	}
	q := url.QueryEscape
	for _, u := range []string{item, hs.URL + "/allowed/item.json"} {
		base := fmt.Sprintf("/v1/stac/tiles/%s.npy?url=%s&", tile, q(u))
		for _, c := range []struct{ stac, layer string }{
			{"assets=dem", "/v1/udfs/elevation/tiles/%s.npy"},
			{"assets=rgb&asset_bidx=" + q("rgb|3,1"), "/v1/udfs/rgb/tiles/%s.npy?bidx=3,1"},
			{"expression=" + q("(rgb_b3-rgb_b1)/(rgb_b3+rgb_b1)"), "/v1/udfs/rgb/tiles/%s.npy?expression=" + q("(b3-b1)/(b3+b1)")},
		} {
			want := e.get(t, strings.Replace(c.layer, "%s", tile.String(), 1), 200).Body.Bytes()
			if rec := get(base+c.stac, 200); !bytes.Equal(rec.Body.Bytes(), want) {
				t.Errorf("url=%s %s: %d bytes, not the layer's %d", u, c.stac, rec.Body.Len(), len(want))
			}
		}
		// Styled as a COG layer's tiles are.
		png := get(fmt.Sprintf("/v1/stac/tiles/%s.png?url=%s&expression=%s&rescale=-1,1&colormap=rdylgn", tile, q(u), q("(rgb_b3-rgb_b1)/(rgb_b3+rgb_b1)")), 200)
		if !bytes.HasPrefix(png.Body.Bytes(), []byte("\x89PNG")) {
			t.Errorf("url=%s: not a PNG", u)
		}
		tj := get("/v1/stac/tilejson.json?url="+q(u)+"&assets=dem", 200)
		if !strings.Contains(tj.Body.String(), "/v1/stac/tiles/{z}/{x}/{y}.png?assets=dem\u0026url=") {
			t.Errorf("tilejson: %s", tj.Body)
		}
		var info struct {
			Raster []string                  `json:"raster_assets"`
			Assets map[string]map[string]any `json:"assets"`
		}
		json.Unmarshal(get("/v1/stac/info?url="+q(u)+"&assets=dem,rgb", 200).Body.Bytes(), &info)
		if len(info.Assets) != 2 || info.Assets["rgb"]["count"] != 3.0 || !strings.Contains(strings.Join(info.Raster, ","), "dem") {
			t.Errorf("url=%s info: %+v", u, info)
		}
		lon, lat := e.demoBounds.Center()
		pt := get(fmt.Sprintf("/v1/stac/point/%g,%g?url=%s&assets=dem,rgb", lon, lat, q(u)), 200).Body.String()
		ref := get(fmt.Sprintf("/v1/cog/point/%g,%g?url=%s", lon, lat, q(filepath.Join(allowed, "dem.tif"))), 200).Body.String()
		if !strings.Contains(pt, `"band_names":["dem_b1","rgb_b1","rgb_b2","rgb_b3"]`) || !strings.Contains(pt, between(ref, `"values":[`, "]")) {
			t.Errorf("url=%s point: %s; the COG's: %s", u, pt, ref)
		}
		st := get("/v1/stac/statistics?url="+q(u)+"&assets=dem&max_size=64", 200).Body.String()
		if !strings.Contains(st, `"dem_b1":{"min":`) {
			t.Errorf("url=%s statistics: %s", u, st)
		}
		want := get("/v1/cog/preview.npy?max_size=64&url="+q(filepath.Join(allowed, "dem.tif")), 200).Body.Bytes()
		if got := get("/v1/stac/preview.npy?max_size=64&assets=dem&url="+q(u), 200).Body.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("url=%s preview: %d bytes, not the COG's %d", u, len(got), len(want))
		}
		box := fmt.Sprintf("%g,%g,%g,%g", lon-0.02, lat-0.02, lon+0.02, lat+0.02)
		get("/v1/stac/bbox/"+box+".png?assets=rgb&url="+q(u), 200)
	}
	// Assets the allow-list refuses, or that are not served.
	for _, u := range []string{item, hs.URL + "/allowed/item.json"} {
		for _, c := range []struct {
			query string
			code  int
			want  string
		}{
			{"assets=outside", 403, "asset outside: "},
			{"expression=" + q("outside_b1 * 2"), 403, "asset outside: "},
			{"assets=metadata", 403, "asset metadata: http://169.254.169.254/latest/meta-data/x.tif is not under cog_urls.allow"},
			{"assets=private", 404, "asset private: no "},
			{"assets=thumbnail", 400, "asset thumbnail: not a raster (image/png)"},
			{"assets=B04", 400, "asset B04: the item has no such asset (its raster assets: dem, link, metadata, outside, private, rgb)"},
			{"", 400, "parameter assets: required"},
		} {
			rec := get(fmt.Sprintf("/v1/stac/tiles/%s.png?url=%s&%s", tile, q(u), c.query), c.code)
			if msg := jsonError(t, rec); !strings.Contains(msg, c.want) {
				t.Errorf("url=%s %s: %q, want %q", u, c.query, msg, c.want)
			}
		}
	}
	if rec := get(fmt.Sprintf("/v1/stac/tiles/%s.png?url=%s&assets=link", tile, q(item)), 403); !strings.Contains(jsonError(t, rec), "is not under cog_urls.allow") {
		t.Errorf("a link out of the allowed directory: %s", rec.Body)
	}
	// Items url= may not name, or that are not items.
	for _, c := range []struct {
		url  string
		code int
	}{
		{filepath.Join(secret, "item.json"), 403},
		{hs.URL + "/secret/item.json", 403},
		{filepath.Join(allowed, "missing.json"), 404},
		{hs.URL + "/allowed/missing.json", 404},
		{filepath.Join(allowed, "notes.json"), 400},
		{allowed, 400},
	} {
		get(fmt.Sprintf("/v1/stac/tiles/%s.png?url=%s&assets=dem", tile, q(c.url)), c.code)
	}
	if rec := do(e.withDeps(t, web.Deps{}), "GET", fmt.Sprintf("/v1/stac/tiles/%s.png?url=%s&assets=dem", tile, q(item))); rec.Code != 404 {
		t.Errorf("no allow-list: %d, want 404", rec.Code)
	}
}

// TestSTACLayer serves a configured STAC layer (handler stac): its default
// assets, its info and point routes.
func TestSTACLayer(t *testing.T) {
	e := newTestServer(t)
	dir := t.TempDir()
	item := filepath.Join(dir, "item.json")
	writeItem(t, item, map[string]string{"dem": e.demoPath, "rgb": filepath.Join(filepath.Dir(e.demoPath), "rgb.tif")})
	h := cog.NewSTAC(cog.STACOptions{Path: item, Assets: []string{"dem"}})
	t.Cleanup(h.Close)
	e.reg.Add(&layer.Layer{Name: "scene", Kind: "stac", Handler: h, MaxAge: time.Hour})
	tile := e.centerTile(9)
	want := e.get(t, fmt.Sprintf("/v1/udfs/elevation/tiles/%s.npy", tile), 200).Body.Bytes()
	if got := e.get(t, fmt.Sprintf("/v1/udfs/scene/tiles/%s.npy", tile), 200).Body.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("the default assets: %d bytes, not the elevation layer's %d", len(got), len(want))
	}
	lon, lat := e.demoBounds.Center()
	pt := e.get(t, fmt.Sprintf("/v1/udfs/scene/point/%g,%g?expression=%s", lon, lat, url.QueryEscape("dem_b1 * 2")), 200).Body.String()
	if !strings.Contains(pt, `"band_names":["dem_b1 * 2"]`) {
		t.Errorf("point: %s", pt)
	}
	info := e.get(t, "/v1/udfs/scene/info", 200).Body.String()
	if !strings.Contains(info, `"raster_assets":["dem","rgb"]`) || !strings.Contains(info, `"dem":{`) || strings.Contains(info, `"rgb":{`) {
		t.Errorf("info: %s", info)
	}
	// Statistics and crops of the assets match the COG layer's own (the
	// item's one asset in its own grid; statistics in EPSG:4326).
	var st, ref map[string]map[string]any
	json.Unmarshal(e.get(t, "/v1/udfs/scene/statistics?max_size=256", 200).Body.Bytes(), &st)
	json.Unmarshal(e.get(t, "/v1/udfs/elevation/statistics?max_size=256", 200).Body.Bytes(), &ref)
	d, r := st["dem_b1"], ref["b1"]
	if d == nil || r == nil || d["min"] == nil || math.Abs(d["mean"].(float64)-r["mean"].(float64)) > 0.01*math.Abs(r["mean"].(float64)) || d["valid_percent"].(float64) < 50 {
		t.Errorf("statistics: %v; the COG layer's %v", d, r)
	}
	if got, want := e.get(t, "/v1/udfs/scene/preview.npy?max_size=128", 200).Body.Bytes(), e.get(t, "/v1/udfs/elevation/preview.npy?max_size=128", 200).Body.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("preview: %d bytes, not the COG layer's %d", len(got), len(want))
	}
	box := fmt.Sprintf("%g,%g,%g,%g", lon-0.05, lat-0.05, lon+0.05, lat+0.05)
	if got, want := e.get(t, "/v1/udfs/scene/bbox/"+box+".npy?width=300&height=200", 200).Body.Bytes(), e.get(t, "/v1/udfs/elevation/bbox/"+box+".npy?width=300&height=200", 200).Body.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("bbox: %d bytes, not the COG layer's %d", len(got), len(want))
	}
	area := fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}`, lon-0.05, lat-0.05, lon+0.05, lat-0.05, lon, lat+0.05, lon-0.05, lat-0.05)
	if rec := postBody(e.handler, "/v1/udfs/scene/feature.png", area); rec.Code != 200 || rec.Header().Get("Content-Type") != "image/png" {
		t.Errorf("feature: %d %s", rec.Code, rec.Body)
	}
	if rec := postBody(e.handler, "/v1/udfs/scene/statistics", area); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"dem_b1":{"min":`) {
		t.Errorf("statistics of a geometry: %d %s", rec.Code, rec.Body)
	}
	e.get(t, "/v1/udfs/scene/statistics?pixel_selection=first", 400)
	e.get(t, "/v1/udfs/scene/statistics?assets=nope", 400)
	e.get(t, "/v1/udfs/elevation/info", 200)
}
