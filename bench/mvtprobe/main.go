// Command mvtprobe is bench/vector.sh's helper: it lists the benchmark's tiles, fetches and
// decodes vector tiles from a server (checking every answer), measures servers too slow for a
// wrk run, and decodes tile files written by ogr2ogr. Results are one line of key=value pairs.
//
//	mvtprobe tiles -z 10 [-lon 10 -lat 47.5 -n 8] [-clip W,S,E,N] [-bounds]
//	mvtprobe check -base URL -paths FILE [-timeout 60s] [-budget 60s] [-save FILE]
//	mvtprobe load -base URL -paths FILE -c 8 -duration 10s [-timeout 60s]
//	mvtprobe files FILE...
//
// check fetches the paths in order, one at a time, until all are done or budget has passed
// (at least one is always fetched); every answer must be 200 with a vector-tile content type
// (or an empty body) and decode as MVT. It prints tiles, empty (tiles without a feature),
// features and bytes (sums), p50_ms and max_ms; -save keeps the first tile with features.
//
// load runs c clients, each taking the next path of the list (wrapping around), for duration,
// then waits for the requests under way; it prints requests, seconds, rps, p50_ms and p99_ms.
//
// Exit status: 0 ok, 1 a wrong answer or another error, 3 a request got no answer within
// timeout, 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb/encoding/mvt"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "tiles":
		err = tilesCmd(os.Args[2:])
	case "check":
		err = checkCmd(os.Args[2:])
	case "load":
		err = loadCmd(os.Args[2:])
	case "files":
		err = filesCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mvtprobe:", err)
		if errors.Is(err, errTimeout) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mvtprobe tiles|check|load|files ... (see the package comment)")
	os.Exit(2)
}

var errTimeout = errors.New("no answer within the time limit")

// ---------------------------------------------------------------------------------------
// Tiles.

const originShift = math.Pi * 6378137

// tileAt is the WebMercatorQuad tile holding lon/lat at zoom z.
func tileAt(lon, lat float64, z int) (int, int) {
	n := 1 << z
	x := lon * originShift / 180
	y := math.Log(math.Tan((90+lat)*math.Pi/360)) * 6378137
	size := 2 * originShift / float64(n)
	tx := int(math.Floor((x + originShift) / size))
	ty := int(math.Floor((originShift - y) / size))
	return min(max(tx, 0), n-1), min(max(ty, 0), n-1)
}

// tileLonLat is the west, south, east, north of a tile in degrees.
func tileLonLat(z, x, y int) (w, s, e, n float64) {
	k := float64(int(1) << z)
	lat := func(row int) float64 {
		return math.Atan(math.Sinh(math.Pi*(1-2*float64(row)/k))) * 180 / math.Pi
	}
	return float64(x)/k*360 - 180, lat(y + 1), float64(x+1)/k*360 - 180, lat(y)
}

// block is the n×n tiles around the tile at lon/lat (n/2 before it, n/2-1 after, as in
// vector/bench_test.go), clipped to the zoom's grid; zoom 0 is its single tile.
func block(lon, lat float64, z, n int) [][3]int {
	if z == 0 {
		return [][3]int{{0, 0, 0}}
	}
	cx, cy := tileAt(lon, lat, z)
	var out [][3]int
	for dy := -n / 2; dy < n-n/2; dy++ {
		for dx := -n / 2; dx < n-n/2; dx++ {
			x, y := cx+dx, cy+dy
			if x >= 0 && y >= 0 && x < 1<<z && y < 1<<z {
				out = append(out, [3]int{z, x, y})
			}
		}
	}
	return out
}

func tilesCmd(args []string) error {
	fs := flag.NewFlagSet("tiles", flag.ExitOnError)
	z := fs.Int("z", 0, "zoom")
	lon := fs.Float64("lon", 10, "longitude of the block's centre")
	lat := fs.Float64("lat", 47.5, "latitude of the block's centre")
	n := fs.Int("n", 8, "block side in tiles")
	bounds := fs.Bool("bounds", false, "print the block's west south east north instead")
	clip := fs.String("clip", "", "west,south,east,north: leave out tiles not overlapping these")
	fs.Parse(args)
	if *z < 0 || *z > 24 || *n < 1 {
		return fmt.Errorf("need 0 <= z <= 24 and n >= 1")
	}
	ts := block(*lon, *lat, *z, *n)
	if *clip != "" {
		var cw, cs, ce, cn float64
		if _, err := fmt.Sscanf(*clip, "%g,%g,%g,%g", &cw, &cs, &ce, &cn); err != nil {
			return fmt.Errorf("-clip %q: %v", *clip, err)
		}
		ts = slices.DeleteFunc(ts, func(t [3]int) bool {
			w, s, e, n := tileLonLat(t[0], t[1], t[2])
			return !(w < ce && cw < e && s < cn && cs < n)
		})
		if len(ts) == 0 {
			return fmt.Errorf("no tile of the block overlaps %s", *clip)
		}
	}
	if *bounds {
		w, s, e, no := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for _, t := range ts {
			a, b, c, d := tileLonLat(t[0], t[1], t[2])
			w, s, e, no = min(w, a), min(s, b), max(e, c), max(no, d)
		}
		fmt.Printf("%.9f %.9f %.9f %.9f\n", w, s, e, no)
		return nil
	}
	for _, t := range ts {
		fmt.Printf("%d/%d/%d\n", t[0], t[1], t[2])
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// Fetching.

func readPaths(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			paths = append(paths, l)
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no paths in %s", file)
	}
	return paths, nil
}

var client = &http.Client{Transport: &http.Transport{
	MaxIdleConnsPerHost: 64,
	DisableCompression:  true, // as wrk: no Accept-Encoding
}}

// get fetches base+path within timeout and returns the body; anything but a 200 is an error.
func get(base, path string, timeout time.Duration) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("%s: %w (%s)", path, errTimeout, timeout)
		}
		return nil, "", fmt.Errorf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("%s: %w (%s)", path, errTimeout, timeout)
		}
		return nil, "", fmt.Errorf("%s: reading the body: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: HTTP %d: %.300s", path, resp.StatusCode, body)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// decode counts the features of an MVT (gzipped or not; an empty body is an empty tile).
func decode(body []byte) (int, error) {
	if len(body) == 0 {
		return 0, nil
	}
	layers, err := mvt.Unmarshal(body)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range layers {
		n += len(l.Features)
	}
	return n, nil
}

type stats struct {
	tiles, empty, features, bytes int
	ms                            []float64
}

func (s *stats) add(body []byte, name string) error {
	n, err := decode(body)
	if err != nil {
		return fmt.Errorf("%s: not a vector tile (%v): %.100q", name, err, body)
	}
	s.tiles++
	s.features += n
	s.bytes += len(body)
	if n == 0 {
		s.empty++
	}
	return nil
}

func (s *stats) print(extra string) {
	fmt.Printf("tiles=%d empty=%d features=%d bytes=%d", s.tiles, s.empty, s.features, s.bytes)
	if len(s.ms) > 0 {
		fmt.Printf(" p50_ms=%.3f max_ms=%.3f", pct(s.ms, 50), pct(s.ms, 100))
	}
	fmt.Println(extra)
}

// pct is the p-th percentile (nearest rank) of v.
func pct(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func checkCmd(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	base := fs.String("base", "", "server URL, e.g. http://127.0.0.1:8080")
	list := fs.String("paths", "", "file of request paths, one a line")
	timeout := fs.Duration("timeout", 60*time.Second, "time limit of one request")
	budget := fs.Duration("budget", 60*time.Second, "start no request after this (one always runs)")
	save := fs.String("save", "", "write the first tile with features (else the first tile) here")
	fs.Parse(args)
	paths, err := readPaths(*list)
	if err != nil {
		return err
	}
	var s stats
	saved := false
	start := time.Now()
	for i, p := range paths {
		if i > 0 && time.Since(start) > *budget {
			break
		}
		t0 := time.Now()
		body, ctype, err := get(*base, p, *timeout)
		if err != nil {
			return err
		}
		s.ms = append(s.ms, float64(time.Since(t0).Microseconds())/1000)
		if len(body) > 0 && !strings.Contains(ctype, "vector-tile") && !strings.Contains(ctype, "protobuf") {
			return fmt.Errorf("%s: Content-Type %q: %.200q", p, ctype, body)
		}
		before := s.features
		if err := s.add(body, p); err != nil {
			return err
		}
		if *save != "" && !saved && (i == 0 || s.features > before) {
			if err := os.WriteFile(*save, body, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "saved %s\n", p)
			saved = s.features > before
		}
	}
	s.print(fmt.Sprintf(" of=%d", len(paths)))
	return nil
}

func loadCmd(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	base := fs.String("base", "", "server URL, e.g. http://127.0.0.1:8080")
	list := fs.String("paths", "", "file of request paths, one a line")
	conns := fs.Int("c", 1, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "start no request after this")
	timeout := fs.Duration("timeout", 60*time.Second, "time limit of one request")
	fs.Parse(args)
	paths, err := readPaths(*list)
	if err != nil {
		return err
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		ms       []float64
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range *conns {
		wg.Go(func() {
			for time.Since(start) < *duration {
				p := paths[int(next.Add(1)-1)%len(paths)]
				t0 := time.Now()
				_, _, err := get(*base, p, *timeout)
				d := float64(time.Since(t0).Microseconds()) / 1000
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					ms = append(ms, d)
				}
				stop := firstErr != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if firstErr != nil {
		return firstErr
	}
	if len(ms) == 0 {
		return fmt.Errorf("no request completed")
	}
	fmt.Printf("requests=%d seconds=%.3f rps=%.3f p50_ms=%.3f p99_ms=%.3f\n",
		len(ms), elapsed, float64(len(ms))/elapsed, pct(ms, 50), pct(ms, 99))
	return nil
}

func filesCmd(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("files: no files")
	}
	var s stats
	for _, f := range args {
		body, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := s.add(body, f); err != nil {
			return err
		}
	}
	s.print("")
	return nil
}
