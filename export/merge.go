package export

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/udftiles/udftiles/tiles"
)

// ReadAll calls fn for every tile of an MBTiles or PMTiles file or an export
// directory, in no particular order, with the bytes as stored. data is only
// valid during the call (copy it to keep it). An error from fn stops the
// reading and is returned as is.
func ReadAll(path string, fn func(t tiles.Tile, data []byte) error) error {
	switch kind, err := fileKind(path); {
	case err != nil:
		return err
	case kind == kindMBTiles:
		return readMBTiles(path, fn)
	case kind == kindPMTiles:
		return readPMTiles(path, fn)
	default:
		return readDir(path, fn)
	}
}

// ReadMetadata reads what an MBTiles or PMTiles file or an export directory
// (its tilejson.json, else its files) says about its tiles.
func ReadMetadata(path string) (Metadata, error) {
	switch kind, err := fileKind(path); {
	case err != nil:
		return Metadata{}, err
	case kind == kindMBTiles:
		return mbtilesMetadata(path)
	case kind == kindPMTiles:
		return pmtilesMetadata(path)
	default:
		return dirMetadata(path)
	}
}

// fileKind tells a directory, a PMTiles archive (by its magic number) and an
// SQLite (MBTiles) file apart.
func fileKind(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	if fi.IsDir() {
		return "dir", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := f.Read(head)
	switch head = head[:n]; {
	case strings.HasPrefix(string(head), "PMTiles"):
		return kindPMTiles, nil
	case strings.HasPrefix(string(head), "SQLite format 3\x00"):
		return kindMBTiles, nil
	}
	return "", fmt.Errorf("export: %s is neither an MBTiles nor a PMTiles file", path)
}

// hashLookup is implemented by the archive sinks: the content hash of a tile
// stored or queued.
type hashLookup interface {
	storedHash(t tiles.Tile) (string, bool, error)
}

// Merge writes the tiles of parts (MBTiles or PMTiles files, or export
// directories: the shards of an export) to dest through Open, Put and Finish,
// and returns the destination's stats. A tile in several parts must have the
// same bytes in each (it is stored once); different bytes are an error
// naming the tile and the two parts. Zero fields of m are filled from the
// parts: Format, Name, Description, Attribution, VectorLayers and
// TileCompression from the first part that has them, Bounds as the union of
// the parts' bounds, and the zoom range (when m has MinZoom = MaxZoom = 0) as
// the union of theirs. An archive dest resumes like any export: merging again
// after an interruption skips the tiles already stored.
func Merge(dest string, parts []string, m Metadata) (SinkStats, error) {
	if len(parts) == 0 {
		return SinkStats{}, errors.New("export: merge: no parts")
	}
	for _, p := range parts {
		if sameFile(p, dest) || sameFile(p, dest+".part") {
			return SinkStats{}, fmt.Errorf("export: merge: part %s is the destination", p)
		}
	}
	m, err := mergeMetadata(parts, m)
	if err != nil {
		return SinkStats{}, err
	}
	s, err := Open(dest, m.Format)
	if err != nil {
		return SinkStats{}, err
	}
	lookup, _ := s.(hashLookup)
	var seen map[tiles.Tile]seenTile // when the sink cannot answer (directory, S3)
	if lookup == nil {
		seen = map[tiles.Tile]seenTile{}
	}
	for i, p := range parts {
		err := ReadAll(p, func(t tiles.Tile, data []byte) error {
			h := contentHash(data)
			if lookup != nil {
				old, ok, err := lookup.storedHash(t)
				if err != nil {
					return err
				}
				if ok {
					if old != hex.EncodeToString(h[:]) {
						return conflict(t, parts[:i], p)
					}
					return nil
				}
			} else if old, ok := seen[t]; ok {
				if old.hash != h {
					return conflict(t, parts[old.part:old.part+1], p)
				}
				return nil
			} else {
				seen[t] = seenTile{hash: h, part: i}
			}
			return s.Put(t, data)
		})
		if err != nil {
			s.Close()
			return s.Stats(), fmt.Errorf("export: merge: %s: %w", p, err)
		}
	}
	if err := s.Finish(m); err != nil {
		return s.Stats(), err
	}
	return s.Stats(), nil
}

type seenTile struct {
	hash [16]byte
	part int
}

// conflict names the tile and the earlier part holding other bytes for it.
func conflict(t tiles.Tile, earlier []string, p string) error {
	where := "an earlier run of this merge"
	errFound := errors.New("found")
	for _, e := range earlier {
		err := ReadAll(e, func(u tiles.Tile, _ []byte) error {
			if u == t {
				return errFound
			}
			return nil
		})
		if err == errFound {
			where = e
			break
		}
	}
	return fmt.Errorf("tile %s differs between %s and %s", t, where, p)
}

// mergeMetadata fills the zero fields of m from the parts.
func mergeMetadata(parts []string, m Metadata) (Metadata, error) {
	var b tiles.Bounds
	minz, maxz := -1, -1
	for _, p := range parts {
		pm, err := ReadMetadata(p)
		if err != nil {
			return m, fmt.Errorf("export: merge: %w", err)
		}
		if pm.Format != "" {
			f, err := normalizeFormat(pm.Format)
			if err != nil {
				return m, fmt.Errorf("export: merge: %s: %w", p, err)
			}
			if m.Format == "" {
				m.Format = f
			} else if mf, _ := normalizeFormat(m.Format); mf != f {
				return m, fmt.Errorf("export: merge: %s holds %s tiles, not %s", p, f, mf)
			}
		}
		if m.Name == "" {
			m.Name = pm.Name
		}
		if m.Description == "" {
			m.Description = pm.Description
		}
		if m.Attribution == "" {
			m.Attribution = pm.Attribution
		}
		if m.VectorLayers == nil {
			m.VectorLayers = pm.VectorLayers
		}
		if m.TileCompression == "" {
			m.TileCompression = pm.TileCompression
		}
		if pb := pm.Bounds; pb.Validate() == nil {
			if b == (tiles.Bounds{}) {
				b = pb
			} else {
				b = tiles.Bounds{MinX: min(b.MinX, pb.MinX), MinY: min(b.MinY, pb.MinY), MaxX: max(b.MaxX, pb.MaxX), MaxY: max(b.MaxY, pb.MaxY)}
			}
		}
		if minz < 0 || pm.MinZoom < minz {
			minz = pm.MinZoom
		}
		maxz = max(maxz, pm.MaxZoom)
	}
	if m.Format == "" {
		return m, errors.New("export: merge: the parts do not say their tile format: set it")
	}
	if m.Bounds == (tiles.Bounds{}) {
		m.Bounds = b
	}
	if m.MinZoom == 0 && m.MaxZoom == 0 && minz >= 0 {
		m.MinZoom, m.MaxZoom = minz, maxz
	}
	return m, nil
}

// sameFile reports whether two paths name the same existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
