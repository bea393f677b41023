package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/web"
)

func TestCORS(t *testing.T) {
	env := newTestServer(t)
	only := env.withDeps(t, web.Deps{CORSOrigins: []string{"https://a.example"}})
	none := env.withDeps(t, web.Deps{})
	tile := tileURL("elevation", env.centerTile(9), ".png")
	tests := []struct {
		name         string
		h            http.Handler
		method       string
		target       string
		headers      []string
		status       int
		allowOrigin  string
		allowMethods bool
		vary         bool
	}{
		{"any origin", env.handler, "GET", tile, []string{"Origin", "https://b.example"}, 200, "*", false, false},
		{"any origin on an error", env.handler, "GET", "/v1/udfs/nope", []string{"Origin", "https://b.example"}, 404, "*", false, false},
		{"no origin header", env.handler, "GET", tile, nil, 200, "", false, false},
		{"preflight", env.handler, "OPTIONS", tile, []string{"Origin", "https://b.example", "Access-Control-Request-Method", "GET"}, 204, "*", true, false},
		{"listed origin", only, "GET", tile, []string{"Origin", "https://a.example"}, 200, "https://a.example", false, true},
		{"unlisted origin", only, "GET", tile, []string{"Origin", "https://b.example"}, 200, "", false, true},
		{"no origin with a list", only, "GET", tile, nil, 200, "", false, true},
		{"listed preflight", only, "OPTIONS", "/v1/udfs", []string{"Origin", "https://a.example", "Access-Control-Request-Method", "GET"}, 204, "https://a.example", true, true},
		{"unlisted preflight", only, "OPTIONS", "/v1/udfs", []string{"Origin", "https://b.example", "Access-Control-Request-Method", "GET"}, 204, "", false, true},
		{"no origins configured", none, "GET", tile, []string{"Origin", "https://a.example"}, 200, "", false, true},
		{"OPTIONS without preflight headers", env.handler, "OPTIONS", "/v1/udfs", nil, 405, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(tt.h, tt.method, tt.target, tt.headers...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			h := rec.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.allowOrigin)
			}
			methods := h.Get("Access-Control-Allow-Methods")
			if tt.allowMethods != (strings.Contains(methods, "GET") && strings.Contains(methods, "HEAD")) {
				t.Errorf("Access-Control-Allow-Methods %q (want GET, HEAD: %v)", methods, tt.allowMethods)
			}
			if tt.allowMethods && !strings.Contains(h.Get("Access-Control-Allow-Headers"), "If-None-Match") {
				t.Errorf("Access-Control-Allow-Headers %q lacks If-None-Match", h.Get("Access-Control-Allow-Headers"))
			}
			if tt.vary != slices.Contains(h.Values("Vary"), "Origin") {
				t.Errorf("Vary %v (want Origin: %v)", h.Values("Vary"), tt.vary)
			}
			if tt.allowOrigin != "" && !strings.Contains(h.Get("Access-Control-Expose-Headers"), "X-Cache") {
				t.Errorf("Access-Control-Expose-Headers %q lacks X-Cache", h.Get("Access-Control-Expose-Headers"))
			}
			if tt.status == 204 && rec.Body.Len() != 0 {
				t.Errorf("preflight with a body %q", rec.Body)
			}
		})
	}
}

type tileJSON struct {
	TileJSON string     `json:"tilejson"`
	Name     string     `json:"name"`
	Scheme   string     `json:"scheme"`
	Tiles    []string   `json:"tiles"`
	MinZoom  int        `json:"minzoom"`
	MaxZoom  int        `json:"maxzoom"`
	Bounds   [4]float64 `json:"bounds"`
	Center   [3]float64 `json:"center"`
}

func TestTileJSON(t *testing.T) {
	env := newTestServer(t)
	public := env.withDeps(t, web.Deps{PublicURL: "https://cdn.example/tiles/"})
	trusted := env.withDeps(t, web.Deps{Limits: web.Limits{TrustProxy: true}}) // behind a proxy (server.trust_proxy)
	const tmpl = "/v1/udfs/elevation/tiles/{z}/{x}/{y}"
	tests := []struct {
		name    string
		h       http.Handler
		query   string
		headers []string
		want    string
	}{
		{"host header", env.handler, "", []string{"Host", "tiles.local:8080"}, "http://tiles.local:8080" + tmpl + ".png"},
		{"forwarded", trusted, "", []string{"Host", "10.0.0.5:8080", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "maps.example.org, proxy.internal"},
			"https://maps.example.org" + tmpl + ".png"},
		{"forwarded proto only", trusted, "", []string{"Host", "tiles.local", "X-Forwarded-Proto", "https"}, "https://tiles.local" + tmpl + ".png"},
		{"forwarded proto junk", trusted, "", []string{"Host", "tiles.local", "X-Forwarded-Proto", "javascript"}, "http://tiles.local" + tmpl + ".png"},
		{"forwarded, no proxy trusted", env.handler, "", []string{"Host", "10.0.0.5:8080", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "maps.example.org"},
			"http://10.0.0.5:8080" + tmpl + ".png"},
		{"public url wins", public, "", []string{"Host", "tiles.local", "X-Forwarded-Host", "maps.example.org"}, "https://cdn.example/tiles" + tmpl + ".png"},
		{"params carried", env.handler, "colormap=viridis&rescale=0,2000", []string{"Host", "h"},
			"http://h" + tmpl + ".png?colormap=viridis&rescale=0%2C2000"},
		{"format picks the extension", env.handler, "format=webp&colormap=viridis", []string{"Host", "h"}, "http://h" + tmpl + ".webp?colormap=viridis"},
		{"format alias", env.handler, "format=jpeg", []string{"Host", "h"}, "http://h" + tmpl + ".jpg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "/v1/udfs/elevation/tilejson.json"
			if tt.query != "" {
				target += "?" + tt.query
			}
			rec := do(tt.h, http.MethodGet, target, tt.headers...)
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			var tj tileJSON
			if err := json.Unmarshal(rec.Body.Bytes(), &tj); err != nil {
				t.Fatal(err)
			}
			if len(tj.Tiles) != 1 || tj.Tiles[0] != tt.want {
				t.Errorf("tiles %v, want [%s]", tj.Tiles, tt.want)
			}
			b := env.demoBounds
			if tj.TileJSON != "3.0.0" || tj.Name != "elevation" || tj.Scheme != "xyz" || tj.MinZoom != 5 || tj.MaxZoom != 12 ||
				tj.Bounds != [4]float64{b.MinX, b.MinY, b.MaxX, b.MaxY} {
				t.Errorf("TileJSON %+v, want 3.0.0 with bounds %v and zooms 5..12", tj, b)
			}
			if c := tj.Center; c[0] < b.MinX || c[0] > b.MaxX || c[1] < b.MinY || c[1] > b.MaxY || c[2] < 5 || c[2] > 12 {
				t.Errorf("center %v is not inside the bounds and zooms", c)
			}
		})
	}
	// The tile URL it gives works, with the parameters it carries.
	rec := do(env.handler, http.MethodGet, "/v1/udfs/elevation/tilejson.json?colormap=viridis", "Host", "h")
	var tj tileJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &tj); err != nil {
		t.Fatal(err)
	}
	tl := env.centerTile(int(tj.Center[2]))
	u, err := url.Parse(strings.NewReplacer("{z}", strconv.Itoa(tl.Z), "{x}", strconv.Itoa(tl.X), "{y}", strconv.Itoa(tl.Y)).Replace(tj.Tiles[0]))
	if err != nil {
		t.Fatal(err)
	}
	viaTileJSON := env.get(t, u.RequestURI(), 200).Body.Bytes()
	direct := env.get(t, tileURL("elevation", tl, ".png?colormap=viridis"), 200).Body.Bytes()
	if string(viaTileJSON) != string(direct) {
		t.Error("the TileJSON tile URL does not give the viridis tile")
	}

	for _, tt := range []struct {
		target string
		status int
	}{
		{"/v1/udfs/nope/tilejson.json", 404},
		{"/v1/udfs/elevation/tilejson.json?format=bmp", 400},
	} {
		jsonError(t, env.get(t, tt.target, tt.status))
	}
}

func TestColormaps(t *testing.T) {
	env := newTestServer(t)
	var list struct {
		Colormaps []string `json:"colormaps"`
	}
	if err := json.Unmarshal(env.get(t, "/v1/colormaps", 200).Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Colormaps) < 22 {
		t.Errorf("%d colormaps, want at least 22", len(list.Colormaps))
	}
	for _, name := range []string{"viridis", "plasma", "magma", "inferno", "RdYlGn_r", "terrain"} {
		if !slices.Contains(list.Colormaps, name) {
			t.Errorf("/v1/colormaps lacks %s", name)
		}
	}
	plasma, err := colormap.Lookup("plasma")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want string
	}{
		{"plasma", "plasma"},
		{"viridis", "viridis"},
		{"RdYlGn_r", "RdYlGn_r"},
		{"rdylgn_r", "RdYlGn_r"},
	}
	for _, tt := range tests {
		var cm struct {
			Name   string     `json:"name"`
			Colors [][4]uint8 `json:"colors"`
		}
		if err := json.Unmarshal(env.get(t, "/v1/colormaps/"+tt.name, 200).Body.Bytes(), &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Name != tt.want || len(cm.Colors) != 256 {
			t.Errorf("/v1/colormaps/%s: %q with %d colours, want %q with 256", tt.name, cm.Name, len(cm.Colors), tt.want)
		}
		if tt.name == "plasma" && (cm.Colors[0] != plasma.Index(0) || cm.Colors[255] != plasma.Index(255)) {
			t.Errorf("plasma ends %v %v, want %v %v", cm.Colors[0], cm.Colors[255], plasma.Index(0), plasma.Index(255))
		}
	}
	if msg := jsonError(t, env.get(t, "/v1/colormaps/nope", 404)); !strings.Contains(msg, "nope") {
		t.Errorf("unknown colormap: %q", msg)
	}
}

func TestPagesAndHealth(t *testing.T) {
	env := newTestServer(t)
	tests := []struct {
		method, target string
		status         int
		contentType    string
		contains       string
	}{
		{"GET", "/", 200, "text/html", "maplibre"},
		{"GET", "/map/elevation", 200, "text/html", "maplibre"},
		{"GET", "/map/rgb", 200, "text/html", "maplibre"},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/static/app.js", 200, "javascript", ""},
		{"GET", "/static/app.css", 200, "text/css", ""},
		{"GET", "/static/nope.js", 404, "", ""},
		{"GET", "/healthz", 200, "application/json", `"status":"ok"`},
		{"HEAD", "/healthz", 200, "application/json", ""},
		{"GET", "/readyz", 200, "application/json", `"ready":true`},
		{"GET", "/nowhere", 404, "application/json", `"error"`},
		{"POST", "/v1/udfs", 405, "application/json", `"error"`},
		{"DELETE", "/v1/udfs/elevation/tiles/9/1/1.png", 405, "application/json", `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.target, func(t *testing.T) {
			rec := do(env.handler, tt.method, tt.target)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if !strings.Contains(strings.ToLower(rec.Body.String()), strings.ToLower(tt.contains)) {
				t.Errorf("body does not contain %q", tt.contains)
			}
			if tt.status == 200 && tt.method == "GET" && rec.Body.Len() == 0 {
				t.Error("empty body")
			}
		})
	}
	var ready struct {
		Ready bool `json:"ready"`
		UDFs  int  `json:"udfs"`
	}
	if err := json.Unmarshal(env.get(t, "/readyz", 200).Body.Bytes(), &ready); err != nil || !ready.Ready || ready.UDFs != 2 {
		t.Errorf("readyz %+v %v, want ready with 2 udfs", ready, err)
	}
}
