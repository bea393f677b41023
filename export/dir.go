package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/udftiles/udftiles/tiles"
)

// dirSink writes DEST/{z}/{x}/{y}.{ext}. Each tile goes to a temporary file
// in its folder and is renamed into place, so a killed export never leaves a
// partial tile (a temporary file may stay; Finish removes those). Tiles are
// not fsynced one by one: the layout survives a killed process, not a power
// cut.
type dirSink struct {
	root   string
	format string
	count  *blobCounter
	closed atomic.Bool
}

func openDir(dest, format string) (*dirSink, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return &dirSink{root: dest, format: format, count: newBlobCounter()}, nil
}

func (s *dirSink) path(t tiles.Tile) string {
	return filepath.Join(s.root, strconv.Itoa(t.Z), strconv.Itoa(t.X), strconv.Itoa(t.Y)+"."+s.format)
}

func (s *dirSink) Has(t tiles.Tile) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	if err := t.Validate(); err != nil {
		return false, fmt.Errorf("export: tile %s: %w", t, err)
	}
	fi, err := os.Stat(s.path(t))
	switch {
	case err == nil:
		return fi.Mode().IsRegular(), nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("export: %w", err)
	}
}

func (s *dirSink) Put(t tiles.Tile, data []byte) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkPut(t, data); err != nil {
		return err
	}
	p := s.path(t)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("export: tile %s: %w", t, err)
	}
	if err := writeFileAtomic(p, data, false); err != nil {
		return fmt.Errorf("export: tile %s: %w", t, err)
	}
	s.count.add(data)
	return nil
}

// Finish removes the temporary files a killed run may have left and writes
// tilejson.json.
func (s *dirSink) Finish(m Metadata) error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	if err := finishFormat(&m, s.format); err != nil {
		return err
	}
	if err := checkZooms(m); err != nil {
		return err
	}
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), tmpMark) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("export: removing temporary files: %w", err)
	}
	doc, err := tileJSONFor(m, s.format)
	if err != nil {
		return fmt.Errorf("export: tilejson: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.root, "tilejson.json"), doc, true); err != nil {
		return fmt.Errorf("export: tilejson: %w", err)
	}
	syncDir(s.root)
	return nil
}

func (s *dirSink) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *dirSink) Stats() SinkStats { return s.count.stats() }

// readDir calls fn for every {z}/{x}/{y}.{ext} file under root, skipping
// anything else (tilejson.json, temporary files).
func readDir(root string, fn func(t tiles.Tile, data []byte) error) error {
	zs, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, zd := range zs {
		z, ok := atoiDir(zd)
		if !ok {
			continue
		}
		xs, err := os.ReadDir(filepath.Join(root, zd.Name()))
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		for _, xd := range xs {
			x, ok := atoiDir(xd)
			if !ok {
				continue
			}
			dir := filepath.Join(root, zd.Name(), xd.Name())
			ys, err := os.ReadDir(dir)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			for _, yf := range ys {
				y, ok := tileFileY(yf)
				if !ok {
					continue
				}
				t := tiles.Tile{Z: z, X: x, Y: y}
				if t.Validate() != nil {
					continue
				}
				data, err := os.ReadFile(filepath.Join(dir, yf.Name()))
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				if err := fn(t, data); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func atoiDir(d fs.DirEntry) (int, bool) {
	if !d.IsDir() {
		return 0, false
	}
	n, err := strconv.Atoi(d.Name())
	return n, err == nil && n >= 0 && strconv.Itoa(n) == d.Name()
}

// tileFileY parses "{y}.{ext}".
func tileFileY(d fs.DirEntry) (int, bool) {
	if !d.Type().IsRegular() {
		return 0, false
	}
	stem, ext, ok := strings.Cut(d.Name(), ".")
	if !ok || !formatRe.MatchString(ext) {
		return 0, false
	}
	n, err := strconv.Atoi(stem)
	return n, err == nil && n >= 0 && strconv.Itoa(n) == stem
}

// dirMetadata reads tilejson.json, or without it guesses the format and zoom
// range from the files.
func dirMetadata(root string) (Metadata, error) {
	b, err := os.ReadFile(filepath.Join(root, "tilejson.json"))
	if err == nil {
		var doc tileJSON
		if err := json.Unmarshal(b, &doc); err != nil {
			return Metadata{}, fmt.Errorf("export: %s: %w", filepath.Join(root, "tilejson.json"), err)
		}
		m := Metadata{Name: doc.Name, Description: doc.Description, Attribution: doc.Attribution,
			Format: doc.Format, MinZoom: doc.MinZoom, MaxZoom: doc.MaxZoom,
			Bounds: tiles.Bounds{MinX: doc.Bounds[0], MinY: doc.Bounds[1], MaxX: doc.Bounds[2], MaxY: doc.Bounds[3]}}
		if len(doc.Tiles) > 0 && doc.Tiles[0] != "{z}/{x}/{y}."+doc.Format {
			m.TileURL = doc.Tiles[0]
		}
		for _, l := range doc.VectorLayers {
			m.VectorLayers = append(m.VectorLayers, VectorLayer(l))
		}
		return m, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Metadata{}, fmt.Errorf("export: %w", err)
	}
	m := Metadata{MinZoom: -1, Format: firstTileExt(root)}
	zs, err := os.ReadDir(root)
	if err != nil {
		return Metadata{}, fmt.Errorf("export: %w", err)
	}
	for _, zd := range zs {
		if z, ok := atoiDir(zd); ok {
			if m.MinZoom < 0 || z < m.MinZoom {
				m.MinZoom = z
			}
			m.MaxZoom = max(m.MaxZoom, z)
		}
	}
	if m.MinZoom < 0 {
		m.MinZoom = 0
	}
	return m, nil
}

// firstTileExt is the extension of the first {z}/{x}/{y}.{ext} file found.
func firstTileExt(root string) string {
	zs, _ := os.ReadDir(root)
	for _, zd := range zs {
		if _, ok := atoiDir(zd); !ok {
			continue
		}
		xs, _ := os.ReadDir(filepath.Join(root, zd.Name()))
		for _, xd := range xs {
			if _, ok := atoiDir(xd); !ok {
				continue
			}
			ys, _ := os.ReadDir(filepath.Join(root, zd.Name(), xd.Name()))
			for _, yf := range ys {
				if _, ok := tileFileY(yf); ok {
					_, ext, _ := strings.Cut(yf.Name(), ".")
					return ext
				}
			}
		}
	}
	return ""
}
