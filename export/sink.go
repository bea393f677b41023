// Package export stores prerendered tile pyramids: an XYZ directory, an
// MBTiles 1.3 or PMTiles v3 archive, or an S3 prefix. [Open] picks the sink
// from the destination; a [Sink] takes tiles from many goroutines, answers
// [Sink.Has] for resuming an interrupted export, and [Sink.Finish] writes the
// metadata and makes the destination complete. [Merge] combines the parts of
// a sharded export; [ReadAll] and [ReadMetadata] read any of the file
// destinations back.
//
// Archives are built in a staging SQLite database, DEST.part, beside DEST
// (WAL journal, commits in batches from one writer goroutine), so an export
// killed at any moment resumes from what was committed, and DEST only ever
// appears complete: Finish renames the finished archive into place.
package export

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/udftiles/udftiles/internal/s3client"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// Metadata describes an export for archive metadata and tilejson.json.
type Metadata struct {
	Name, Description, Attribution string
	// Format is the tile encoding: png, jpg, webp, mvt, geojson, ... Tiles are
	// stored as rendered: an mvt export holds uncompressed MVT unless the
	// renderer produced gzip, which TileCompression then says. "" in Finish
	// is the format the sink was opened with.
	Format           string
	MinZoom, MaxZoom int
	Bounds           tiles.Bounds  // lon/lat; zero = computed from the tiles (archives) or the world
	VectorLayers     []VectorLayer // for mvt: MBTiles `json` and PMTiles metadata vector_layers
	TileURL          string        // for tilejson.json beside a directory export ("" = relative "{z}/{x}/{y}.ext")
	// TileCompression is how the stored tile bytes are compressed: "none" or
	// "gzip". It goes into the PMTiles header; "" = detected from the tiles
	// (every tile of an archive must agree, Finish fails naming one that does
	// not).
	TileCompression string
}

// VectorLayer describes one layer of a vector tileset (TileJSON vector_layers).
type VectorLayer = tiles.VectorLayer

// Sink stores tiles. Put may be called from several goroutines at once.
type Sink interface {
	// Has reports whether a tile is already stored (resuming an export).
	Has(t tiles.Tile) (bool, error)
	// Put stores a tile; data is copied, the caller may reuse it. Empty data
	// is refused with ErrEmptyTile: an empty tile is not stored.
	Put(t tiles.Tile, data []byte) error
	// Finish writes metadata and makes the destination complete (archives:
	// renamed into place). The sink is closed afterwards, whether Finish
	// succeeded or not.
	Finish(m Metadata) error
	// Close releases resources without finishing: what was written stays for
	// a later resume. Close after Finish does nothing.
	Close() error
	// Stats counts the Puts of this sink since it was opened.
	Stats() SinkStats
}

// SinkStats counts what a sink stored since it was opened. Archives count
// after each commit, so the numbers trail Put until Finish or Close.
type SinkStats struct {
	Tiles      int64 // Puts stored
	Unique     int64 // distinct blobs stored
	Duplicates int64 // Puts whose bytes were stored already
	// Bytes is the tile data written: archives store a blob once, so
	// duplicates add nothing; a directory or S3 writes every tile.
	Bytes int64
}

// Errors the sinks return.
var (
	ErrEmptyTile = errors.New("export: empty tile data (an empty tile is skipped, not stored)")
	ErrClosed    = errors.New("export: the sink is closed")
)

// Open returns the sink for dest: "s3://bucket/prefix" an S3 prefix (see the
// S3 sink for the environment it reads), a path ending in .mbtiles or
// .pmtiles an archive (staged in dest+".part", resumed if that exists), else
// a directory {z}/{x}/{y}.{ext}. format is the tile encoding (png, jpg, webp,
// mvt, geojson, ...; jpeg and pbf are accepted for jpg and mvt).
func Open(dest string, format string) (Sink, error) {
	f, err := normalizeFormat(format)
	if err != nil {
		return nil, err
	}
	switch lower := strings.ToLower(dest); {
	case dest == "":
		return nil, errors.New("export: no destination")
	case strings.HasPrefix(lower, "s3://"):
		return openS3(dest, f, s3Options{Client: s3client.FromEnv()})
	case strings.HasSuffix(lower, ".mbtiles"):
		return openMBTiles(dest, f)
	case strings.HasSuffix(lower, ".pmtiles"):
		return openPMTiles(dest, f)
	default:
		return openDir(dest, f)
	}
}

var formatRe = regexp.MustCompile(`^[a-z0-9]{1,16}$`)

// normalizeFormat lower-cases and de-aliases a format; it also becomes the
// file extension, so it must be short and alphanumeric.
func normalizeFormat(f string) (string, error) {
	f = render.Normalize(strings.ToLower(strings.TrimPrefix(f, ".")))
	if !formatRe.MatchString(f) {
		return "", fmt.Errorf("export: format %q: want a tile format such as png, jpg, webp or mvt", f)
	}
	return f, nil
}

// finishFormat checks the format Finish is given against the sink's.
func finishFormat(m *Metadata, opened string) error {
	if m.Format == "" {
		m.Format = opened
		return nil
	}
	f, err := normalizeFormat(m.Format)
	if err != nil {
		return err
	}
	if f != opened {
		return fmt.Errorf("export: Finish: metadata format %q differs from the format %q the sink was opened with", m.Format, opened)
	}
	m.Format = f
	return nil
}

// isGzip reports whether data starts with the gzip magic number.
func isGzip(data []byte) bool { return len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b }

// checkPut validates the arguments of Put.
func checkPut(t tiles.Tile, data []byte) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("export: tile %s: %w", t, err)
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: %s", ErrEmptyTile, t)
	}
	return nil
}

// contentHash identifies tile bytes for deduplication: the first 128 bits of
// their SHA-256.
func contentHash(data []byte) [16]byte {
	sum := sha256.Sum256(data)
	return [16]byte(sum[:16])
}

// worldBounds is the WebMercatorQuad extent in lon/lat.
var worldBounds = tiles.Bounds{MinX: -180, MinY: -tiles.MaxLat, MaxX: 180, MaxY: tiles.MaxLat}

// boundsOr returns b, or def when b is unset or invalid.
func boundsOr(b, def tiles.Bounds) tiles.Bounds {
	if b == (tiles.Bounds{}) || b.Validate() != nil {
		return def
	}
	return b
}

// center is the middle of b at the deepest zoom in [minz, maxz] whose tiles
// are no smaller than about half of b's width or height, so that a client
// opening there sees the whole export.
func center(b tiles.Bounds, minz, maxz int) [3]float64 {
	cx, cy := b.Center()
	m := b.ToMercator()
	span := math.Max(m.MaxX-m.MinX, m.MaxY-m.MinY)
	z := minz
	for z < maxz && tiles.Size(z+1) >= span/2 {
		z++
	}
	return [3]float64{round7(cx), round7(cy), float64(z)}
}

func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

// tileJSON is the tilejson.json written beside directory and S3 exports.
type tileJSON struct {
	tiles.TileJSON
	Format string `json:"format"`
}

// tileJSONFor builds the TileJSON 3.0.0 document of an export with extension ext.
func tileJSONFor(m Metadata, ext string) ([]byte, error) {
	url := m.TileURL
	if url == "" {
		url = "{z}/{x}/{y}." + ext
	}
	b := boundsOr(m.Bounds, worldBounds)
	doc := tileJSON{TileJSON: tiles.TileJSON{
		TileJSON:    "3.0.0",
		Name:        m.Name,
		Description: m.Description,
		Attribution: m.Attribution,
		Scheme:      "xyz",
		Tiles:       []string{url},
		MinZoom:     m.MinZoom,
		MaxZoom:     m.MaxZoom,
		Bounds:      [4]float64{round7(b.MinX), round7(b.MinY), round7(b.MaxX), round7(b.MaxY)},
		Center:      center(b, m.MinZoom, m.MaxZoom),
	}, Format: m.Format}
	if m.Format == "mvt" {
		doc.VectorLayers = make([]tiles.VectorLayer, 0, len(m.VectorLayers))
		for _, l := range m.VectorLayers {
			doc.VectorLayers = append(doc.VectorLayers, tiles.VectorLayer(l))
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// checkZooms validates the zoom range of metadata.
func checkZooms(m Metadata) error {
	if m.MinZoom < 0 || m.MaxZoom > tiles.MaxZoom || m.MinZoom > m.MaxZoom {
		return fmt.Errorf("export: zoom range %d..%d: want 0 <= minzoom <= maxzoom <= %d", m.MinZoom, m.MaxZoom, tiles.MaxZoom)
	}
	return nil
}

// blobCounter keeps SinkStats for the sinks that write every tile (directory,
// S3): it remembers up to maxSeen distinct contents (8 bytes each) to count
// duplicates; past that, new contents are counted as unique without being
// remembered, so Duplicates is then a lower bound.
type blobCounter struct {
	tiles, unique, dups, bytes atomic.Int64

	mu   sync.Mutex
	seed maphash.Seed
	seen map[uint64]struct{}
}

const maxSeen = 1 << 20

func newBlobCounter() *blobCounter {
	return &blobCounter{seed: maphash.MakeSeed(), seen: map[uint64]struct{}{}}
}

// add counts a stored tile.
func (c *blobCounter) add(data []byte) {
	h := maphash.Bytes(c.seed, data)
	c.mu.Lock()
	_, dup := c.seen[h]
	if !dup && len(c.seen) < maxSeen {
		c.seen[h] = struct{}{}
	}
	c.mu.Unlock()
	c.tiles.Add(1)
	c.bytes.Add(int64(len(data)))
	if dup {
		c.dups.Add(1)
	} else {
		c.unique.Add(1)
	}
}

func (c *blobCounter) stats() SinkStats {
	return SinkStats{Tiles: c.tiles.Load(), Unique: c.unique.Load(), Duplicates: c.dups.Load(), Bytes: c.bytes.Load()}
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// into place, so that path is either absent, the old file or all of data.
func writeFileAtomic(path string, data []byte, sync bool) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+tmpMark+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// tmpMark is in the name of every temporary file a sink writes.
const tmpMark = ".tmp-"

// syncDir makes a rename in dir durable (best effort: not every file system
// can sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
