package export

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/protomaps/go-pmtiles/pmtiles"
	"github.com/udftiles/udftiles/tiles"
)

// archiveFile is where Finish writes a PMTiles archive before renaming it.
type archiveFile interface {
	io.Writer
	Name() string
	Sync() error
	Close() error
}

// createArchive creates the temporary archive file (a variable so that tests
// can make writes fail as on a full disk).
var createArchive = func(dir, pattern string) (archiveFile, error) { return os.CreateTemp(dir, pattern) }

// pmtilesSink stages tiles like mbtilesSink (DEST.part, resumable), and
// Finish writes a PMTiles v3 archive from the staging database: tiles in
// TileID (Hilbert) order, each distinct content stored once (clustered),
// consecutive TileIDs with the same content as one run-length entry, root and
// leaf directories and JSON metadata gzip-compressed by go-pmtiles, tiles
// stored as they were put (TileCompression).
type pmtilesSink struct{ staged }

func openPMTiles(dest, format string) (*pmtilesSink, error) {
	st, err := openStage(dest, format, kindPMTiles)
	if err != nil {
		return nil, err
	}
	return &pmtilesSink{staged{st}}, nil
}

// pmtilesType is the header tile type of a format.
func pmtilesType(f string) pmtiles.TileType {
	switch f {
	case "mvt":
		return pmtiles.Mvt
	case "png":
		return pmtiles.Png
	case "jpg":
		return pmtiles.Jpeg
	case "webp":
		return pmtiles.Webp
	case "avif":
		return pmtiles.Avif
	case "mlt":
		return pmtiles.Mlt
	default:
		return pmtiles.UnknownTileType
	}
}

// Finish builds the archive in a temporary file beside DEST, renames it to
// DEST and removes the staging database. On failure DEST is untouched and
// DEST.part stays for a later run.
func (s *pmtilesSink) Finish(m Metadata) error {
	st := s.st
	if err := st.stop(); err != nil {
		if !errors.Is(err, ErrClosed) {
			st.release()
		}
		return err
	}
	defer st.release()
	if err := finishFormat(&m, st.format); err != nil {
		return err
	}
	if err := checkZooms(m); err != nil {
		return err
	}
	switch m.TileCompression {
	case "", "none", "gzip":
	default:
		return fmt.Errorf("export: tile compression %q: want none or gzip", m.TileCompression)
	}
	if err := s.build(m); err != nil {
		return fmt.Errorf("export: building %s: %w", st.dest, err)
	}
	st.rdb.Close()
	st.rdb = nil
	err := st.wdb.Close()
	st.wdb = nil
	if err != nil {
		return fmt.Errorf("export: %s is complete, but closing %s failed: %w", st.dest, st.path, err)
	}
	var errs []error
	for _, p := range []string{st.path, st.path + "-wal", st.path + "-shm"} {
		if err := os.Remove(p); err != nil && !isNotExist(err) {
			errs = append(errs, err)
		}
	}
	st.removeLockFile()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("export: %s is complete, but removing its staging database failed: %w", st.dest, err)
	}
	return nil
}

const noOffset = math.MaxUint64

// build writes the archive in two passes over the staging database in TileID
// order: the first lays out the tile data (offsets of distinct contents, run
// lengths) without reading it, so the directories can be written before the
// data; the second writes each content once, at the offset the first gave it.
func (s *pmtilesSink) build(m Metadata) (err error) {
	st := s.st
	ctx := context.Background()
	db := st.wdb

	var maxRow int64
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0) FROM images`).Scan(&maxRow); err != nil {
		return err
	}
	offsets := make([]uint64, maxRow+1) // by images.rowid
	for i := range offsets {
		offsets[i] = noOffset
	}
	var (
		entries             []pmtiles.EntryV3
		dataLen, contents   uint64
		addressed           uint64
		minz, maxz          = -1, -1
		x0, x1, y0, y1      uint32
		firstRow            int64 = -1
		passRows, passRows2 int64
	)
	rows, err := db.QueryContext(ctx, `SELECT m.tile_hid, i.rowid, length(i.tile_data) FROM map m JOIN images i ON i.tile_id = m.tile_id ORDER BY m.tile_hid`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var hid, rid, length int64
		if err := rows.Scan(&hid, &rid, &length); err != nil {
			rows.Close()
			return err
		}
		if length <= 0 || length > math.MaxUint32 || rid < 0 || rid > maxRow {
			rows.Close()
			return fmt.Errorf("tile %d: bad content (length %d, image %d)", hid, length, rid)
		}
		passRows++
		if firstRow < 0 {
			firstRow = rid
		}
		off := offsets[rid]
		if off == noOffset {
			off = dataLen
			offsets[rid] = off
			dataLen += uint64(length)
			contents++
		}
		id := uint64(hid)
		if n := len(entries); n > 0 && entries[n-1].Offset == off &&
			entries[n-1].TileID+uint64(entries[n-1].RunLength) == id && entries[n-1].RunLength < math.MaxUint32 {
			entries[n-1].RunLength++
		} else {
			entries = append(entries, pmtiles.EntryV3{TileID: id, Offset: off, Length: uint32(length), RunLength: 1})
		}
		addressed++
		z, x, y := pmtiles.IDToZxy(id)
		if minz < 0 {
			minz = int(z)
		}
		if int(z) > maxz { // TileIDs grow with the zoom: a new, deeper zoom
			maxz = int(z)
			x0, x1, y0, y1 = x, x, y, y
		} else {
			x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	tb := worldBounds
	if maxz < 0 { // no tiles: what the caller says
		minz, maxz = m.MinZoom, m.MaxZoom
	} else {
		nw := tiles.Tile{Z: maxz, X: int(x0), Y: int(y0)}.LonLat()
		se := tiles.Tile{Z: maxz, X: int(x1), Y: int(y1)}.LonLat()
		tb = tiles.Bounds{MinX: nw.MinX, MinY: se.MinY, MaxX: se.MaxX, MaxY: nw.MaxY}
	}
	b := boundsOr(m.Bounds, tb)
	c := center(b, minz, maxz)

	// Tile compression: said, or that of the first tile; every tile must agree.
	wantGzip := m.TileCompression == "gzip"
	if m.TileCompression == "" && firstRow >= 0 {
		var head []byte
		if err := db.QueryRowContext(ctx, `SELECT substr(tile_data, 1, 2) FROM images WHERE rowid = ?`, firstRow).Scan(&head); err != nil {
			return err
		}
		wantGzip = isGzip(head)
	}
	tc := pmtiles.Compression(pmtiles.NoCompression)
	if wantGzip {
		tc = pmtiles.Gzip
	}

	root, leaves, _ := pmtiles.BuildDirectories(entries, 16384-pmtiles.HeaderV3LenBytes, pmtiles.Gzip)
	name := m.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(st.dest), filepath.Ext(st.dest))
	}
	meta := map[string]any{"name": name}
	if m.Description != "" {
		meta["description"] = m.Description
	}
	if m.Attribution != "" {
		meta["attribution"] = m.Attribution
	}
	tt := pmtilesType(m.Format)
	if tt == pmtiles.UnknownTileType {
		meta["format"] = m.Format
	}
	if m.Format == "mvt" {
		layers := m.VectorLayers
		if layers == nil {
			layers = []VectorLayer{}
		}
		meta["vector_layers"] = layers
	}
	// SerializeMetadata marshals a map of plain values: round-trip the layers.
	if b, err := json.Marshal(meta); err != nil {
		return err
	} else if err := json.Unmarshal(b, &meta); err != nil {
		return err
	}
	metaBytes, err := pmtiles.SerializeMetadata(meta, pmtiles.Gzip)
	if err != nil {
		return err
	}
	h := pmtiles.HeaderV3{
		SpecVersion:         3,
		RootOffset:          pmtiles.HeaderV3LenBytes,
		RootLength:          uint64(len(root)),
		AddressedTilesCount: addressed,
		TileEntriesCount:    uint64(len(entries)),
		TileContentsCount:   contents,
		Clustered:           true,
		InternalCompression: pmtiles.Gzip,
		TileCompression:     tc,
		TileType:            tt,
		MinZoom:             uint8(minz),
		MaxZoom:             uint8(maxz),
		MinLonE7:            e7(b.MinX),
		MinLatE7:            e7(b.MinY),
		MaxLonE7:            e7(b.MaxX),
		MaxLatE7:            e7(b.MaxY),
		CenterZoom:          uint8(c[2]),
		CenterLonE7:         e7(c[0]),
		CenterLatE7:         e7(c[1]),
	}
	h.MetadataOffset = h.RootOffset + h.RootLength
	h.MetadataLength = uint64(len(metaBytes))
	h.LeafDirectoryOffset = h.MetadataOffset + h.MetadataLength
	h.LeafDirectoryLength = uint64(len(leaves))
	h.TileDataOffset = h.LeafDirectoryOffset + h.LeafDirectoryLength
	h.TileDataLength = dataLen

	dir, base := filepath.Split(st.dest)
	if dir == "" {
		dir = "."
	}
	f, err := createArchive(dir, "."+base+tmpMark+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	for _, part := range [][]byte{pmtiles.SerializeHeader(h), root, metaBytes, leaves} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}

	written := make([]uint64, (maxRow+64)/64) // bitset by images.rowid
	var pos uint64
	rows, err = db.QueryContext(ctx, `SELECT m.tile_hid, i.rowid, i.tile_data FROM map m JOIN images i ON i.tile_id = m.tile_id ORDER BY m.tile_hid`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var hid, rid int64
		var data sql.RawBytes
		if err := rows.Scan(&hid, &rid, &data); err != nil {
			return err
		}
		passRows2++
		if rid < 0 || rid > maxRow || written[rid/64]&(1<<(rid%64)) != 0 {
			continue
		}
		written[rid/64] |= 1 << (rid % 64)
		if offsets[rid] != pos {
			return errors.New("the staging database changed while the archive was built")
		}
		if isGzip(data) != wantGzip {
			z, x, y := pmtiles.IDToZxy(uint64(hid))
			want := "uncompressed"
			if wantGzip {
				want = "gzip-compressed"
			}
			return fmt.Errorf("tile %d/%d/%d is not %s like the others (tile compression must be the same for every tile)", z, x, y, want)
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		pos += uint64(len(data))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if pos != dataLen || passRows2 != passRows {
		return errors.New("the staging database changed while the archive was built")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, st.dest); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

func e7(v float64) int32 { return int32(math.Round(v * 1e7)) }

// pmReader reads a local PMTiles v3 archive.
type pmReader struct {
	path string
	f    *os.File
	size uint64
	h    pmtiles.HeaderV3
}

func openPMReader(path string) (*pmReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("export: %w", err)
	}
	r := &pmReader{path: path, f: f, size: uint64(fi.Size())}
	buf := make([]byte, pmtiles.HeaderV3LenBytes)
	if _, err := f.ReadAt(buf, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("export: %s: reading the PMTiles header: %w", path, err)
	}
	if r.h, err = pmtiles.DeserializeHeader(buf); err != nil {
		f.Close()
		return nil, fmt.Errorf("export: %s: %w", path, err)
	}
	if r.h.SpecVersion != 3 {
		f.Close()
		return nil, fmt.Errorf("export: %s: PMTiles version %d, only 3 is supported", path, r.h.SpecVersion)
	}
	if c := r.h.InternalCompression; c != pmtiles.NoCompression && c != pmtiles.Gzip {
		f.Close()
		return nil, fmt.Errorf("export: %s: directories compressed with %d: only none and gzip are supported", path, c)
	}
	return r, nil
}

func (r *pmReader) Close() error { return r.f.Close() }

// read reads length bytes at off into buf (grown as needed).
func (r *pmReader) read(buf []byte, off, length uint64) ([]byte, error) {
	if off > r.size || length > r.size-off {
		return nil, fmt.Errorf("export: %s: %d bytes at %d lie outside the file (%d bytes)", r.path, length, off, r.size)
	}
	if uint64(cap(buf)) < length {
		buf = make([]byte, length)
	}
	buf = buf[:length]
	if _, err := r.f.ReadAt(buf, int64(off)); err != nil {
		return nil, fmt.Errorf("export: %s: %w", r.path, err)
	}
	return buf, nil
}

// directory decodes the directory at off.
func (r *pmReader) directory(off, length uint64) (entries []pmtiles.EntryV3, err error) {
	b, err := r.read(nil, off, length)
	if err != nil {
		return nil, err
	}
	if r.h.InternalCompression == pmtiles.Gzip {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("export: %s: directory at %d: %w", r.path, off, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("export: %s: directory at %d: %w", r.path, off, err)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("export: %s: corrupt directory at %d: %v", r.path, off, p)
		}
	}()
	return pmtiles.DeserializeEntries(bytes.NewBuffer(b), pmtiles.NoCompression), nil
}

// each calls fn for every tile entry, in directory order.
func (r *pmReader) each(fn func(e pmtiles.EntryV3) error) error {
	var walk func(off, length uint64, depth int) error
	walk = func(off, length uint64, depth int) error {
		if depth > 4 {
			return fmt.Errorf("export: %s: directories nested too deep", r.path)
		}
		entries, err := r.directory(off, length)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.RunLength == 0 {
				if err := walk(r.h.LeafDirectoryOffset+e.Offset, uint64(e.Length), depth+1); err != nil {
					return err
				}
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(r.h.RootOffset, r.h.RootLength, 0)
}

// readPMTiles calls fn for every tile of a PMTiles archive, with its bytes as
// stored (TileCompression is not undone).
func readPMTiles(path string, fn func(t tiles.Tile, data []byte) error) error {
	r, err := openPMReader(path)
	if err != nil {
		return err
	}
	defer r.Close()
	var buf []byte
	return r.each(func(e pmtiles.EntryV3) error {
		if e.Offset > r.h.TileDataLength || uint64(e.Length) > r.h.TileDataLength-e.Offset {
			return fmt.Errorf("export: %s: tile %d lies outside the tile data", path, e.TileID)
		}
		if buf, err = r.read(buf, r.h.TileDataOffset+e.Offset, uint64(e.Length)); err != nil {
			return err
		}
		for i := uint64(0); i < uint64(e.RunLength); i++ {
			z, x, y := pmtiles.IDToZxy(e.TileID + i)
			t := tiles.Tile{Z: int(z), X: int(x), Y: int(y)}
			if err := t.Validate(); err != nil {
				return fmt.Errorf("export: %s: tile %d: %w", path, e.TileID+i, err)
			}
			if err := fn(t, buf); err != nil {
				return err
			}
		}
		return nil
	})
}

// pmtilesMetadata reads the header and JSON metadata of a PMTiles archive.
func pmtilesMetadata(path string) (Metadata, error) {
	r, err := openPMReader(path)
	if err != nil {
		return Metadata{}, err
	}
	defer r.Close()
	h := r.h
	m := Metadata{MinZoom: int(h.MinZoom), MaxZoom: int(h.MaxZoom),
		Bounds: tiles.Bounds{MinX: float64(h.MinLonE7) / 1e7, MinY: float64(h.MinLatE7) / 1e7,
			MaxX: float64(h.MaxLonE7) / 1e7, MaxY: float64(h.MaxLatE7) / 1e7}}
	switch h.TileType {
	case pmtiles.Mvt:
		m.Format = "mvt"
	case pmtiles.Png:
		m.Format = "png"
	case pmtiles.Jpeg:
		m.Format = "jpg"
	case pmtiles.Webp:
		m.Format = "webp"
	case pmtiles.Avif:
		m.Format = "avif"
	case pmtiles.Mlt:
		m.Format = "mlt"
	}
	switch h.TileCompression {
	case pmtiles.NoCompression:
		m.TileCompression = "none"
	case pmtiles.Gzip:
		m.TileCompression = "gzip"
	}
	b, err := r.read(nil, h.MetadataOffset, h.MetadataLength)
	if err != nil {
		return Metadata{}, err
	}
	jb, err := pmtiles.DeserializeMetadataBytes(bytes.NewReader(b), h.InternalCompression)
	if err != nil {
		return Metadata{}, fmt.Errorf("export: %s: metadata: %w", path, err)
	}
	var doc struct {
		Name, Description, Attribution, Format string
		VectorLayers                           []VectorLayer `json:"vector_layers"`
	}
	if len(jb) > 0 {
		if err := json.Unmarshal(jb, &doc); err != nil {
			return Metadata{}, fmt.Errorf("export: %s: metadata: %w", path, err)
		}
	}
	m.Name, m.Description, m.Attribution, m.VectorLayers = doc.Name, doc.Description, doc.Attribution, doc.VectorLayers
	if m.Format == "" {
		m.Format = doc.Format
	}
	return m, nil
}
