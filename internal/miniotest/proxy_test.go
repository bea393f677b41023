package miniotest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// backend is an HTTP server on 127.0.0.1 answering GET /big with size bytes
// and anything else with "ok".
func backend(t *testing.T, size int) *httptest.Server {
	big := bytes.Repeat([]byte("x"), size)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(big)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestProxyForwards(t *testing.T) {
	srv := backend(t, 0)
	p := NewProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	c := httpClient(t)
	for range 3 {
		body, err := get(c, p.URL()+"/")
		if err != nil || body != "ok" {
			t.Fatalf("GET through proxy = %q, %v", body, err)
		}
	}
	st := p.Stats()
	if st.Accepted != 1 || st.Active != 1 || st.Rejected != 0 || st.Cut != 0 {
		t.Errorf("stats after 3 keep-alive GETs = %+v, want 1 accepted and active", st)
	}
	c.Transport.(*http.Transport).CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Active != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := p.Stats(); st.Active != 0 {
		t.Errorf("stats after the client closed = %+v, want none active", st)
	}
}

func TestProxyLatency(t *testing.T) {
	const d = 200 * time.Millisecond
	const size = 4 << 20
	srv := backend(t, size)
	p := NewProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	p.SetLatency(d)
	c := httpClient(t)
	// The second request reuses the connection: latency is per exchange, not
	// per connection.
	for i := range 2 {
		start := time.Now()
		if body, err := get(c, p.URL()+"/"); err != nil || body != "ok" {
			t.Fatalf("GET = %q, %v", body, err)
		}
		if el := time.Since(start); el < d {
			t.Errorf("GET %d took %s, want at least %s", i, el, d)
		}
	}
	if st := p.Stats(); st.Accepted != 1 {
		t.Errorf("accepted %d connections, want 1 (kept alive)", st.Accepted)
	}
	// Chunks are pipelined: 4 MiB (128 reads or more) is late by d once, not
	// per read.
	start := time.Now()
	body, err := get(c, p.URL()+"/big")
	if err != nil || len(body) != size {
		t.Fatalf("GET /big = %d bytes, %v", len(body), err)
	}
	if el := time.Since(start); el < d || el > 5*d {
		t.Errorf("GET /big took %s, want between %s and %s", el, d, 5*d)
	}
	p.SetLatency(0)
	start = time.Now()
	if _, err := get(c, p.URL()+"/"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el >= d {
		t.Errorf("GET without latency took %s", el)
	}
}

func TestProxyDown(t *testing.T) {
	srv := backend(t, 0)
	p := NewProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	c := httpClient(t)
	if _, err := get(c, p.URL()+"/"); err != nil {
		t.Fatal(err)
	}
	p.SetDown(true)
	if st := p.Stats(); st.Cut != 1 || st.Active != 0 {
		t.Errorf("stats after SetDown(true) = %+v, want 1 cut, none active", st)
	}
	start := time.Now()
	if body, err := get(c, p.URL()+"/"); err == nil {
		t.Fatalf("GET through a down proxy succeeded: %q", body)
	} else {
		t.Logf("GET through a down proxy: %v after %s", err, time.Since(start))
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("failing took %s", el)
	}
	if st := p.Stats(); st.Rejected == 0 {
		t.Errorf("stats = %+v, want rejected connections", st)
	}
	p.SetDown(false)
	if body, err := get(c, p.URL()+"/"); err != nil || body != "ok" {
		t.Fatalf("GET after SetDown(false) = %q, %v", body, err)
	}
}

func TestProxyTargetUnreachable(t *testing.T) {
	srv := backend(t, 0)
	target := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens on target now
	p := NewProxy(t, target)
	if _, err := get(httpClient(t), p.URL()+"/"); err == nil {
		t.Fatal("GET through a proxy to a closed port succeeded")
	}
	if st := p.Stats(); st.DialFailed == 0 {
		t.Errorf("stats = %+v, want failed dials", st)
	}
}
