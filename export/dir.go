package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/udftiles/udftiles/tiles"
)

// dirSink writes DEST/{z}/{x}/{y}.{ext}. A tile is written straight to its
// path (one create, one write: a temporary file and a rename cost twice the
// directory updates, which is most of a small tile's time), between two lines
// of the process's journal, DEST/.udftiles-journal-*: "+ z/x/y" before the
// file is created and "- z/x/y" once it is closed. The journal is locked
// (flock) while its process runs. Opening the directory again finds the
// journals of processes that are gone and removes the tiles they had begun
// and not finished, so a killed export resumes without keeping half a tile,
// even while other shards write to the same directory. Finish removes the
// journal. Tiles are not fsynced one by one: the layout survives a killed
// process, not a power cut.
type dirSink struct {
	root      string
	format    string
	count     *blobCounter
	closed    atomic.Bool
	journal   *os.File
	closeOnce sync.Once
	dirs      sync.Map // folders known to exist
	// fresh: the directory held no tile when opened, so Has need only know
	// the tiles put since (up to maxFresh of them; then it asks the disk).
	fresh atomic.Bool
	putMu sync.Mutex
	put   map[tiles.Tile]struct{}
}

// maxFresh bounds the tiles a fresh directory sink remembers.
const maxFresh = 1 << 20

// journalPrefix begins the journals' file names in the destination.
const journalPrefix = ".udftiles-journal-"

func openDir(dest, format string) (*dirSink, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	s := &dirSink{root: dest, format: format, count: newBlobCounter()}
	entries, err := os.ReadDir(dest)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	fresh := true
	for _, e := range entries {
		if _, ok := atoiDir(e); ok {
			fresh = false
		}
		if strings.HasPrefix(e.Name(), journalPrefix) {
			if err := s.recover(filepath.Join(dest, e.Name())); err != nil {
				return nil, fmt.Errorf("export: %w", err)
			}
		}
	}
	f, err := os.CreateTemp(dest, journalPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("export: locking the journal: %w", err)
	}
	s.journal = f
	if fresh {
		s.put = map[tiles.Tile]struct{}{}
		s.fresh.Store(true)
	}
	return s, nil
}

// recover reads the journal of an earlier run, unless its process still holds
// it, removes the tiles that run began and did not finish, then the journal.
func (s *dirSink) recover(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil // a live process writes it (another shard)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	open := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if len(line) < 3 || line[1] != ' ' {
			continue // the last line of a killed run may be cut short
		}
		switch name := line[2:]; line[0] {
		case '+':
			open[name] = true
		case '-':
			delete(open, name)
		}
	}
	for name := range open {
		var t tiles.Tile
		if _, err := fmt.Sscanf(name, "%d/%d/%d", &t.Z, &t.X, &t.Y); err != nil || t.Validate() != nil {
			continue
		}
		if err := os.Remove(s.path(t)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
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
	if s.fresh.Load() {
		s.putMu.Lock()
		_, ok := s.put[t]
		s.putMu.Unlock()
		if s.fresh.Load() { // still: the set is complete
			return ok, nil
		}
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
	dir := filepath.Dir(p)
	if _, ok := s.dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("export: tile %s: %w", t, err)
		}
		s.dirs.Store(dir, true)
	}
	name := fmt.Sprintf("%d/%d/%d\n", t.Z, t.X, t.Y)
	// One write per line: O_APPEND keeps the lines of concurrent Puts whole.
	if _, err := s.journal.WriteString("+ " + name); err != nil {
		return fmt.Errorf("export: journal: %w", err)
	}
	if err := writeFile(p, data); err != nil {
		os.Remove(p)
		return fmt.Errorf("export: tile %s: %w", t, err)
	}
	if _, err := s.journal.WriteString("- " + name); err != nil {
		return fmt.Errorf("export: journal: %w", err)
	}
	if s.fresh.Load() {
		s.putMu.Lock()
		if len(s.put) < maxFresh {
			s.put[t] = struct{}{}
		} else {
			s.fresh.Store(false)
			s.put = nil
		}
		s.putMu.Unlock()
	}
	s.count.add(data)
	return nil
}

// writeFile creates (or truncates) path and writes data to it.
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
	// Every tile is whole: the journal has nothing more to say.
	if err := os.Remove(s.journal.Name()); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	s.closeJournal()
	return nil
}

func (s *dirSink) Close() error {
	s.closed.Store(true)
	s.closeJournal()
	return nil
}

func (s *dirSink) closeJournal() { s.closeOnce.Do(func() { s.journal.Close() }) }

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
