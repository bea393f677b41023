package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/web"
)

type udfList struct {
	UDFs []struct {
		Name          string    `json:"name"`
		Handler       string    `json:"handler"`
		Status        string    `json:"status"`
		Error         string    `json:"error"`
		Tiles         string    `json:"tiles"`
		TileJSON      string    `json:"tilejson"`
		MinZoom       int       `json:"minzoom"`
		MaxZoom       int       `json:"maxzoom"`
		Bounds        []float64 `json:"bounds"`
		Formats       []string  `json:"formats"`
		DefaultFormat string    `json:"default_format"`
		Parameters    []struct {
			Name    string `json:"name"`
			Default any    `json:"default"`
		} `json:"parameters"`
	} `json:"udfs"`
}

func TestListUDFs(t *testing.T) {
	env := newTestServer(t)
	var list udfList
	if err := json.Unmarshal(env.get(t, "/v1/udfs", 200).Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.UDFs) != 2 || list.UDFs[0].Name != "elevation" || list.UDFs[1].Name != "rgb" {
		t.Fatalf("udfs %+v, want elevation and rgb in order", list.UDFs)
	}
	e := list.UDFs[0]
	if e.Status != "ok" || e.Error != "" || e.Handler != "cog" || e.MinZoom != 5 || e.MaxZoom != 12 ||
		e.Tiles != "/v1/udfs/elevation/tiles/{z}/{x}/{y}.png" || e.TileJSON != "/v1/udfs/elevation/tilejson.json" ||
		e.DefaultFormat != "png" || len(e.Formats) != 6 || len(e.Bounds) != 4 || e.Bounds[0] != env.demoBounds.MinX {
		t.Errorf("elevation %+v", e)
	}
	defaults := map[string]any{}
	for _, p := range e.Parameters {
		defaults[p.Name] = p.Default
	}
	if defaults["colormap"] != "plasma" || defaults["rescale"] != "0,3000" || defaults["tilesize"] != 256.0 {
		t.Errorf("elevation parameter defaults %v", defaults)
	}
	one := env.get(t, "/v1/udfs/rgb", 200)
	if !strings.Contains(one.Body.String(), `"name":"rgb"`) || !strings.Contains(one.Body.String(), `"parameters"`) {
		t.Errorf("/v1/udfs/rgb: %s", one.Body)
	}
	if msg := jsonError(t, env.get(t, "/v1/udfs/nope", 404)); !strings.Contains(msg, "nope") {
		t.Errorf("unknown UDF: %q", msg)
	}
}

func TestBrokenLayers(t *testing.T) {
	env := newTestServer(t)
	missing := filepath.Join(t.TempDir(), "gone.tif")
	env.reg.Add(&layer.Layer{Name: "broken", Kind: "python", Err: errors.New("udfs/broken.py: SyntaxError: invalid syntax (line 3)")})
	reader := cog.New(cog.Options{Path: missing})
	t.Cleanup(reader.Close)
	env.reg.Add(&layer.Layer{Name: "missing", Kind: "cog", Handler: reader, MaxAge: time.Hour})

	var list udfList
	if err := json.Unmarshal(env.get(t, "/v1/udfs", 200).Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	status := map[string][2]string{}
	for _, u := range list.UDFs {
		status[u.Name] = [2]string{u.Status, u.Error}
	}
	tests := []struct {
		layer, reason string
	}{
		{"broken", "SyntaxError"},
		{"missing", "gone.tif"},
	}
	for _, tt := range tests {
		t.Run(tt.layer, func(t *testing.T) {
			if s := status[tt.layer]; s[0] != "error" || !strings.Contains(s[1], tt.reason) {
				t.Errorf("/v1/udfs lists %s as %q %q, want error with %q", tt.layer, s[0], s[1], tt.reason)
			}
			one := env.get(t, "/v1/udfs/"+tt.layer, 200)
			if !strings.Contains(one.Body.String(), `"status":"error"`) {
				t.Errorf("/v1/udfs/%s: %s", tt.layer, one.Body)
			}
			for _, target := range []string{
				"/v1/udfs/" + tt.layer + "/tiles/9/277/181.png",
				"/v1/udfs/" + tt.layer + "/tiles/0/0/0",
				"/v1/udfs/" + tt.layer + "/tilejson.json",
			} {
				rec := env.get(t, target, http.StatusServiceUnavailable)
				if rec.Header().Get("Retry-After") == "" {
					t.Errorf("%s: 503 without Retry-After", target)
				}
				if msg := jsonError(t, rec); !strings.Contains(msg, tt.reason) || !strings.Contains(msg, tt.layer) {
					t.Errorf("%s: %q does not name the layer and %q", target, msg, tt.reason)
				}
			}
		})
	}
	// The healthy layers are unaffected.
	env.get(t, tileURL("elevation", env.centerTile(9), ".png"), 200)
	env.get(t, "/readyz", 200)
}

func TestHandlerErrorsKeepTheirStatus(t *testing.T) {
	env := newTestServer(t)
	tests := []struct {
		err    error
		status int
		want   string
	}{
		{layer.Errorf(layer.BadRequest, "parameter n: too big"), 400, "parameter n: too big"},
		{layer.Errorf(layer.NotFound, "no data here"), 404, "no data here"},
		{layer.Errorf(layer.TooLarge, "result too large"), 413, "result too large"},
		{&layer.Error{Kind: layer.WorkerDied, Msg: "worker exited", Logs: "Traceback ..."}, 502, "worker exited"},
		{layer.Errorf(layer.Unavailable, "busy"), 503, "busy"},
		{layer.Errorf(layer.Timeout, "ran for 120s"), 504, "ran for 120s"},
		{fmt.Errorf("wrapped: %w", layer.Errorf(layer.Timeout, "slow")), 504, "slow"},
		{errors.New("nil map write"), 500, "internal error"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(tt.status, "_", i), func(t *testing.T) {
			name := fmt.Sprintf("failing%d", i)
			env.addFake(name, &fakeHandler{err: tt.err}, time.Hour)
			rec := env.get(t, "/v1/udfs/"+name+"/tiles/1/1/1.png", tt.status)
			if msg := jsonError(t, rec); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if tt.status == 503 && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if tt.status == 502 && !strings.Contains(rec.Body.String(), `"logs":"Traceback ...`) {
				t.Errorf("502 body without the worker's logs: %s", rec.Body)
			}
			// Errors are not cached: the handler runs again.
			env.get(t, "/v1/udfs/"+name+"/tiles/1/1/1.png", tt.status)
		})
	}
}

func TestPanicsAreContained(t *testing.T) {
	env := newTestServer(t)
	env.addFake("panic-run", &fakeHandler{panicIn: "run"}, time.Hour)
	env.addFake("panic-version", &fakeHandler{panicIn: "version"}, time.Hour)
	env.addFake("fine", &fakeHandler{}, time.Hour)
	var logs bytes.Buffer
	h := env.withDeps(t, web.Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, layer := range []string{"panic-run", "panic-version"} {
		t.Run(layer, func(t *testing.T) {
			logs.Reset()
			for i := 0; i < 2; i++ {
				rec := do(h, http.MethodGet, "/v1/udfs/"+layer+"/tiles/2/1/1.png")
				if rec.Code != http.StatusInternalServerError {
					t.Fatalf("status %d, want 500", rec.Code)
				}
				if msg := jsonError(t, rec); !strings.Contains(msg, "internal error") || strings.Contains(msg, "exploded") {
					t.Errorf("panic answered with %q, want a generic internal error", msg)
				}
			}
			// The panic and where it happened are logged, for the operator.
			if !strings.Contains(logs.String(), "exploded") || !strings.Contains(logs.String(), "fake_test.go") {
				t.Errorf("log lacks the panic and its stack: %q", logs.String())
			}
			// The server is still up and serves other routes and layers.
			for _, target := range []string{"/healthz", "/v1/udfs/fine/tiles/2/1/1.png", tileURL("elevation", env.centerTile(9), ".npy")} {
				if rec := do(h, http.MethodGet, target); rec.Code != 200 {
					t.Errorf("%s after a panic: %d", target, rec.Code)
				}
			}
		})
	}
}
