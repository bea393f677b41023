package export

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/protomaps/go-pmtiles/pmtiles"
	"github.com/udftiles/udftiles/tiles"

	_ "modernc.org/sqlite" // pure Go: no second libsqlite3 beside GDAL's
)

// The staging database batches its writes: a commit every stageBatch tiles or
// stageAge, whichever comes first. Variables so that tests can change them.
var (
	stageBatch = 500
	stageAge   = time.Second
	stageQueue = 256 // tiles queued for the writer before Put blocks
	// testWriterPragmas are added to the writer connection's pragmas (tests
	// set max_page_count to fill the "disk").
	testWriterPragmas []string
)

// mbtilesAppID is the MBTiles magic number for PRAGMA application_id ("MPBX").
const mbtilesAppID = 0x4d504258

// Staging kinds: the archive a staging database becomes.
const (
	kindMBTiles = "mbtiles"
	kindPMTiles = "pmtiles"
)

// stage is the staging database of an archive export, DEST.part: MBTiles 1.3
// with the deduplicated schema (a map of tiles to content hashes, an images
// table of distinct blobs, the tiles view over both, metadata). map is keyed
// by the tile's PMTiles (Hilbert) TileID, so that it is read in PMTiles order
// for free; an MBTiles export also indexes it by zoom_level, tile_column,
// tile_row (TMS rows, 2^z-1-y) for MBTiles readers.
//
// One goroutine writes, fed by a channel: transactions of up to stageBatch
// tiles or stageAge, in WAL mode with synchronous=NORMAL, so a process killed
// at any moment leaves a valid database holding every committed batch; the
// next Open resumes it. DEST.part.lock (an flock) keeps two exports from
// writing the same staging database.
type stage struct {
	dest, path string
	kind       string
	format     string
	wdb, rdb   *sql.DB // the writer (one connection), the readers (Has)
	lock       *os.File

	mu     sync.RWMutex // read-held while Put queues; write-held to close the queue
	closed bool
	queue  chan stageItem
	failed chan struct{} // closed when the writer fails
	err    error         // the writer's failure, set before failed is closed
	done   chan struct{} // closed when the writer has returned

	pmu     sync.Mutex
	pending map[int64]string // tiles queued, not committed yet: TileID → content hash

	tiles, unique, dups, bytes atomic.Int64

	replaced bool // writer-only: a Put changed a stored tile, images may hold orphans
}

type stageItem struct {
	hid   int64
	t     tiles.Tile
	hash  string
	data  []byte
	flush chan error // set: commit what is queued and report
}

// tileID is the PMTiles TileID of t.
func tileID(t tiles.Tile) int64 { return int64(pmtiles.ZxyToID(uint8(t.Z), uint32(t.X), uint32(t.Y))) }

// tmsRow is the MBTiles tile_row of t.
func tmsRow(t tiles.Tile) int { return (1 << uint(t.Z)) - 1 - t.Y }

// sqliteDSN is a modernc.org/sqlite data source name for path with params.
func sqliteDSN(path string, q url.Values) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	return u.String() + "?" + q.Encode(), nil
}

func pragmas(ps ...string) url.Values {
	q := url.Values{}
	for _, p := range ps {
		q.Add("_pragma", p)
	}
	return q
}

// openStage opens (creating or resuming) dest+".part".
func openStage(dest, format, kind string) (_ *stage, err error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	s := &stage{dest: dest, path: dest + ".part", kind: kind, format: format,
		queue: make(chan stageItem, stageQueue), failed: make(chan struct{}), done: make(chan struct{}),
		pending: map[int64]string{}}
	if s.lock, err = lockFile(s.path + ".lock"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	removeTemps(dest)

	wq := pragmas(append([]string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "cache_size(-65536)"}, testWriterPragmas...)...)
	wq.Set("_txlock", "immediate")
	dsn, err := sqliteDSN(s.path, wq)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if s.wdb, err = sql.Open("sqlite", dsn); err != nil {
		return nil, fmt.Errorf("export: %s: %w", s.path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if err := s.initSchema(); err != nil {
		return nil, fmt.Errorf("export: %s: %w (remove it to start the export over)", s.path, err)
	}
	dsn, err = sqliteDSN(s.path, pragmas("busy_timeout(10000)", "query_only(1)"))
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if s.rdb, err = sql.Open("sqlite", dsn); err != nil {
		return nil, fmt.Errorf("export: %s: %w", s.path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.rdb.SetMaxOpenConns(n)
	s.rdb.SetMaxIdleConns(n)
	go s.run()
	return s, nil
}

// initSchema creates the tables, or checks that an existing staging database
// was started for the same format.
func (s *stage) initSchema() error {
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS metadata (name TEXT, value TEXT)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS name ON metadata (name)`,
		`CREATE TABLE IF NOT EXISTS images (tile_data BLOB, tile_id TEXT)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS images_id ON images (tile_id)`,
		`CREATE TABLE IF NOT EXISTS map (tile_hid INTEGER PRIMARY KEY, zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_id TEXT)`,
		`CREATE VIEW IF NOT EXISTS tiles AS SELECT map.zoom_level AS zoom_level, map.tile_column AS tile_column, map.tile_row AS tile_row, images.tile_data AS tile_data FROM map JOIN images ON images.tile_id = map.tile_id`,
		`CREATE TABLE IF NOT EXISTS udftiles_export (key TEXT PRIMARY KEY, value TEXT)`,
	}
	if s.kind == kindMBTiles {
		stmts = append(stmts, `CREATE UNIQUE INDEX IF NOT EXISTS map_index ON map (zoom_level, tile_column, tile_row)`)
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	state := map[string]string{}
	rows, err := tx.QueryContext(ctx, `SELECT key, value FROM udftiles_export`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return err
		}
		state[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for k, want := range map[string]string{"kind": s.kind, "format": s.format} {
		if got, ok := state[k]; ok && got != want {
			return fmt.Errorf("it was started as a %s export of %s tiles, not %s of %s", state["kind"], state["format"], s.kind, s.format)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO udftiles_export (key, value) VALUES (?, ?)`, k, want); err != nil {
			return err
		}
	}
	s.replaced = state["orphans"] == "1"
	if s.kind == kindMBTiles {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA application_id = %d`, mbtilesAppID)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// lockFile takes an exclusive flock on path (created if missing).
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("export: another export is writing %s (locked by %s)", strings.TrimSuffix(path, ".lock"), path)
		}
		return nil, fmt.Errorf("export: locking %s: %w", path, err)
	}
	return f, nil
}

// removeTemps removes the temporary archives a killed Finish left beside dest.
func removeTemps(dest string) {
	dir, base := filepath.Split(dest)
	if dir == "" {
		dir = "."
	}
	names, _ := filepath.Glob(filepath.Join(dir, "."+globEscape(base)+tmpMark+"*"))
	for _, n := range names {
		os.Remove(n)
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// run is the writer goroutine.
func (s *stage) run() {
	defer close(s.done)
	ctx := context.Background()
	var (
		tx                         *sql.Tx
		insImage, insMap, updMap   *sql.Stmt
		batch                      []int64
		nTiles, nUniq, nDup, nByte int64
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	begin := func() error {
		var err error
		if tx, err = s.wdb.BeginTx(ctx, nil); err != nil {
			tx = nil
			return err
		}
		if insImage, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO images (tile_id, tile_data) VALUES (?, ?)`); err != nil {
			return err
		}
		if insMap, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO map (tile_hid, zoom_level, tile_column, tile_row, tile_id) VALUES (?, ?, ?, ?, ?)`); err != nil {
			return err
		}
		if updMap, err = tx.PrepareContext(ctx, `UPDATE map SET tile_id = ? WHERE tile_hid = ? AND tile_id <> ?`); err != nil {
			return err
		}
		timer.Reset(stageAge)
		return nil
	}
	commit := func() error {
		if tx == nil {
			return nil
		}
		timer.Stop()
		err := tx.Commit()
		tx = nil
		if err != nil {
			return err
		}
		s.tiles.Add(nTiles)
		s.unique.Add(nUniq)
		s.dups.Add(nDup)
		s.bytes.Add(nByte)
		nTiles, nUniq, nDup, nByte = 0, 0, 0, 0
		s.pmu.Lock()
		for _, id := range batch {
			delete(s.pending, id)
		}
		s.pmu.Unlock()
		batch = batch[:0]
		return nil
	}
	insert := func(it stageItem) error {
		res, err := insImage.ExecContext(ctx, it.hash, it.data)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			nUniq++
			nByte += int64(len(it.data))
		} else {
			nDup++
		}
		res, err = insMap.ExecContext(ctx, it.hid, it.t.Z, it.t.X, tmsRow(it.t), it.hash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 { // stored before: replace its content
			res, err := updMap.ExecContext(ctx, it.hash, it.hid, it.hash)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 && !s.replaced {
				if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO udftiles_export (key, value) VALUES ('orphans', '1')`); err != nil {
					return err
				}
				s.replaced = true
			}
		}
		nTiles++
		batch = append(batch, it.hid)
		return nil
	}
	fail := func(err error) {
		if tx != nil {
			tx.Rollback()
			tx = nil
		}
		s.err = fmt.Errorf("export: writing %s: %w", s.path, err)
		close(s.failed)
	}
	for {
		select {
		case it, ok := <-s.queue:
			switch {
			case !ok:
				if err := commit(); err != nil {
					fail(err)
				}
				return
			case it.flush != nil:
				if err := commit(); err != nil {
					fail(err)
					return
				}
				it.flush <- nil
			default:
				if tx == nil {
					if err := begin(); err != nil {
						fail(err)
						return
					}
				}
				if err := insert(it); err != nil {
					fail(err)
					return
				}
				if len(batch) >= stageBatch {
					if err := commit(); err != nil {
						fail(err)
						return
					}
				}
			}
		case <-timer.C:
			if err := commit(); err != nil {
				fail(err)
				return
			}
		}
	}
}

// failure is the writer's error, if it failed.
func (s *stage) failure() error {
	select {
	case <-s.failed:
		return s.err
	default:
		return nil
	}
}

func (s *stage) put(t tiles.Tile, data []byte) error {
	if err := checkPut(t, data); err != nil {
		return err
	}
	h := contentHash(data)
	it := stageItem{hid: tileID(t), t: t, hash: hex.EncodeToString(h[:]), data: bytes.Clone(data)}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.failure(); err != nil {
		return err
	}
	s.pmu.Lock()
	s.pending[it.hid] = it.hash
	s.pmu.Unlock()
	select {
	case s.queue <- it:
		return nil
	case <-s.failed:
		return s.err
	}
}

func (s *stage) has(t tiles.Tile) (bool, error) {
	_, ok, err := s.storedHash(t)
	return ok, err
}

// storedHash is the content hash of a stored or queued tile.
func (s *stage) storedHash(t tiles.Tile) (string, bool, error) {
	if err := t.Validate(); err != nil {
		return "", false, fmt.Errorf("export: tile %s: %w", t, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return "", false, ErrClosed
	}
	if err := s.failure(); err != nil {
		return "", false, err
	}
	id := tileID(t)
	s.pmu.Lock()
	h, ok := s.pending[id]
	s.pmu.Unlock()
	if ok {
		return h, true, nil
	}
	err := s.rdb.QueryRow(`SELECT tile_id FROM map WHERE tile_hid = ?`, id).Scan(&h)
	switch {
	case err == nil:
		return h, true, nil
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	default:
		return "", false, fmt.Errorf("export: reading %s: %w", s.path, err)
	}
}

// flush commits what is queued.
func (s *stage) flush() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	ch := make(chan error, 1)
	select {
	case s.queue <- stageItem{flush: ch}:
	case <-s.failed:
		return s.err
	}
	select {
	case err := <-ch:
		return err
	case <-s.failed:
		return s.err
	}
}

// stop closes the queue and waits for the writer to commit what was queued;
// the databases stay open for Finish. It returns ErrClosed after the first
// call, else the writer's failure.
func (s *stage) stop() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.done
	return s.failure()
}

// release closes the databases and the lock.
func (s *stage) release() error {
	var errs []error
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close()) // closing drops the flock
		s.lock = nil
	}
	return errors.Join(errs...)
}

// close stops the writer and releases everything, keeping the database.
func (s *stage) close() error {
	if err := s.stop(); errors.Is(err, ErrClosed) {
		return nil
	} else if err != nil {
		s.release()
		return err
	}
	if err := s.release(); err != nil {
		return fmt.Errorf("export: closing %s: %w", s.path, err)
	}
	return nil
}

// removeLockFile removes DEST.part.lock once the export is complete.
func (s *stage) removeLockFile() { os.Remove(s.path + ".lock") }

func (s *stage) stats() SinkStats {
	return SinkStats{Tiles: s.tiles.Load(), Unique: s.unique.Load(), Duplicates: s.dups.Load(), Bytes: s.bytes.Load()}
}

// extent is the zoom range of the stored tiles and the lon/lat bounds of
// those of the deepest zoom; ok is false when there are none.
func (s *stage) extent(ctx context.Context, db *sql.DB) (minz, maxz int, b tiles.Bounds, ok bool, err error) {
	var zmin, zmax sql.NullInt64
	if err = db.QueryRowContext(ctx, `SELECT min(zoom_level), max(zoom_level) FROM map`).Scan(&zmin, &zmax); err != nil || !zmin.Valid {
		return 0, 0, b, false, err
	}
	minz, maxz = int(zmin.Int64), int(zmax.Int64)
	var x0, x1, r0, r1 int
	if err = db.QueryRowContext(ctx, `SELECT min(tile_column), max(tile_column), min(tile_row), max(tile_row) FROM map WHERE zoom_level = ?`, maxz).Scan(&x0, &x1, &r0, &r1); err != nil {
		return 0, 0, b, false, err
	}
	n := 1 << uint(maxz)
	nw := tiles.Tile{Z: maxz, X: x0, Y: n - 1 - r1}.LonLat()
	se := tiles.Tile{Z: maxz, X: x1, Y: n - 1 - r0}.LonLat()
	return minz, maxz, tiles.Bounds{MinX: nw.MinX, MinY: se.MinY, MaxX: se.MaxX, MaxY: nw.MaxY}, true, nil
}

// staged is what the archive sinks share: tiles kept in the staging
// database until Finish.
type staged struct{ st *stage }

func (s staged) Has(t tiles.Tile) (bool, error)                { return s.st.has(t) }
func (s staged) Put(t tiles.Tile, data []byte) error           { return s.st.put(t, data) }
func (s staged) Close() error                                  { return s.st.close() }
func (s staged) Stats() SinkStats                              { return s.st.stats() }
func (s staged) storedHash(t tiles.Tile) (string, bool, error) { return s.st.storedHash(t) }
