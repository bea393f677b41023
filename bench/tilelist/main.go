// Command tilelist prints the z/x/y of every WebMercatorQuad tile that covers a lon/lat
// bounding box at the given zooms, one per line, in a deterministic shuffled order.
//
//	go run ./bench/tilelist -bounds 13.4,46.8,14.2,47.4 -minzoom 10 -maxzoom 16 -seed 1
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

const maxLat = 85.0511287798066

type tile struct{ z, x, y int }

func main() {
	bounds := flag.String("bounds", "", "west,south,east,north in degrees (required)")
	minZoom := flag.Int("minzoom", 10, "first zoom")
	maxZoom := flag.Int("maxzoom", 16, "last zoom")
	seed := flag.Uint64("seed", 1, "shuffle seed; 0 keeps zoom/row/column order")
	flag.Parse()

	w, s, e, n, err := parseBounds(*bounds)
	if err != nil || *minZoom < 0 || *maxZoom > 30 || *minZoom > *maxZoom {
		fmt.Fprintln(os.Stderr, "tilelist: need -bounds west,south,east,north and 0 <= minzoom <= maxzoom <= 30")
		if err != nil {
			fmt.Fprintln(os.Stderr, "tilelist:", err)
		}
		os.Exit(2)
	}

	var list []tile
	for z := *minZoom; z <= *maxZoom; z++ {
		x0, y0 := tileOf(w, n, z)
		x1, y1 := tileOf(e, s, z)
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				list = append(list, tile{z, x, y})
			}
		}
	}
	if *seed != 0 {
		r := rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))
		r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	}

	out := bufio.NewWriter(os.Stdout)
	for _, t := range list {
		fmt.Fprintf(out, "%d/%d/%d\n", t.z, t.x, t.y)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "tilelist:", err)
		os.Exit(1)
	}
}

func parseBounds(s string) (w, so, e, n float64, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return 0, 0, 0, 0, fmt.Errorf("bounds %q: want 4 comma-separated numbers", s)
	}
	var v [4]float64
	for i, p := range parts {
		if v[i], err = strconv.ParseFloat(strings.TrimSpace(p), 64); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("bounds %q: %v", s, err)
		}
	}
	if v[0] > v[2] || v[1] > v[3] {
		return 0, 0, 0, 0, fmt.Errorf("bounds %q: west > east or south > north", s)
	}
	return v[0], v[1], v[2], v[3], nil
}

// tileOf returns the column and row of the tile containing lon/lat at zoom z.
func tileOf(lon, lat float64, z int) (x, y int) {
	lat = math.Max(-maxLat, math.Min(maxLat, lat))
	n := float64(int(1) << z)
	fx := (lon + 180) / 360 * n
	r := lat * math.Pi / 180
	fy := (1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n
	last := int(n) - 1
	return clamp(int(math.Floor(fx)), 0, last), clamp(int(math.Floor(fy)), 0, last)
}

func clamp(v, lo, hi int) int {
	return max(lo, min(hi, v))
}
