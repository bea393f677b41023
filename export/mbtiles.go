package export

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// mbtilesSink builds an MBTiles archive in its staging database, which
// Finish completes and renames to DEST.
type mbtilesSink struct{ staged }

func openMBTiles(dest, format string) (*mbtilesSink, error) {
	st, err := openStage(dest, format, kindMBTiles)
	if err != nil {
		return nil, err
	}
	return &mbtilesSink{staged{st}}, nil
}

// mbtilesFormat is the metadata format of a tile format: pbf for MVT, the
// image types by name, other formats as their media type.
func mbtilesFormat(f string) string {
	switch f {
	case "mvt":
		return "pbf"
	case "png", "jpg", "webp":
		return f
	default:
		return render.MediaType(f)
	}
}

// Finish writes the metadata rows, folds the WAL into the database, switches
// it to a rollback journal (a single self-contained file) and renames it to
// DEST. On failure DEST is untouched and DEST.part stays for a later run.
func (s *mbtilesSink) Finish(m Metadata) error {
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
	if err := st.rdb.Close(); err != nil {
		return fmt.Errorf("export: %s: %w", st.path, err)
	}
	st.rdb = nil
	if err := s.finalize(m); err != nil {
		return fmt.Errorf("export: finishing %s: %w", st.path, err)
	}
	err := st.wdb.Close()
	st.wdb = nil
	if err != nil {
		return fmt.Errorf("export: closing %s: %w", st.path, err)
	}
	if err := os.Rename(st.path, st.dest); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	syncDir(filepath.Dir(st.dest))
	st.removeLockFile()
	return nil
}

func (s *mbtilesSink) finalize(m Metadata) error {
	st := s.st
	ctx := context.Background()
	db := st.wdb
	if st.replaced {
		if _, err := db.ExecContext(ctx, `DELETE FROM images WHERE tile_id NOT IN (SELECT tile_id FROM map)`); err != nil {
			return err
		}
	}
	minz, maxz, tb, ok, err := st.extent(ctx, db)
	if err != nil {
		return err
	}
	if !ok { // no tiles: what the caller says
		minz, maxz, tb = m.MinZoom, m.MaxZoom, worldBounds
	}
	b := boundsOr(m.Bounds, tb)
	c := center(b, minz, maxz)
	name := m.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(st.dest), filepath.Ext(st.dest))
	}
	rows := [][2]string{
		{"name", name},
		{"format", mbtilesFormat(m.Format)},
		{"bounds", fmt.Sprintf("%s,%s,%s,%s", ftoa(b.MinX), ftoa(b.MinY), ftoa(b.MaxX), ftoa(b.MaxY))},
		{"center", fmt.Sprintf("%s,%s,%d", ftoa(c[0]), ftoa(c[1]), int(c[2]))},
		{"minzoom", strconv.Itoa(minz)},
		{"maxzoom", strconv.Itoa(maxz)},
	}
	if m.Description != "" {
		rows = append(rows, [2]string{"description", m.Description})
	}
	if m.Attribution != "" {
		rows = append(rows, [2]string{"attribution", m.Attribution})
	}
	if m.Format == "mvt" && len(m.VectorLayers) > 0 {
		j, err := json.Marshal(struct {
			VectorLayers []VectorLayer `json:"vector_layers"`
		}{m.VectorLayers})
		if err != nil {
			return err
		}
		rows = append(rows, [2]string{"json", string(j)})
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM metadata`); err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := tx.ExecContext(ctx, `INSERT INTO metadata (name, value) VALUES (?, ?)`, r[0], r[1]); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS udftiles_export`); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	var busy, logPages, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); err != nil {
		return err
	}
	if busy != 0 {
		return errors.New("the WAL checkpoint could not complete")
	}
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode = DELETE`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "delete") {
		return fmt.Errorf("journal mode is still %s", mode)
	}
	return nil
}

func ftoa(v float64) string { return strconv.FormatFloat(round7(v), 'f', -1, 64) }

// openReadOnly opens an SQLite file for reading.
func openReadOnly(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	q := pragmas("busy_timeout(10000)", "query_only(1)")
	q.Set("mode", "ro")
	dsn, err := sqliteDSN(path, q)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", path, err)
	}
	return db, nil
}

// readMBTiles calls fn for every tile of an MBTiles file (any MBTiles: it
// reads the tiles table or view).
func readMBTiles(path string, fn func(t tiles.Tile, data []byte) error) error {
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles`)
	if err != nil {
		return fmt.Errorf("export: %s: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var z, x, row int
		var data sql.RawBytes
		if err := rows.Scan(&z, &x, &row, &data); err != nil {
			return fmt.Errorf("export: %s: %w", path, err)
		}
		if z < 0 || z > tiles.MaxZoom {
			return fmt.Errorf("export: %s: zoom_level %d out of range", path, z)
		}
		t := tiles.Tile{Z: z, X: x, Y: (1 << uint(z)) - 1 - row}
		if err := t.Validate(); err != nil {
			return fmt.Errorf("export: %s: tile z=%d column=%d row=%d: %w", path, z, x, row, err)
		}
		if err := fn(t, data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export: %s: %w", path, err)
	}
	return nil
}

// mbtilesMetadata reads the metadata table of an MBTiles file.
func mbtilesMetadata(path string) (Metadata, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return Metadata{}, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name, value FROM metadata`)
	if err != nil {
		return Metadata{}, fmt.Errorf("export: %s: %w", path, err)
	}
	defer rows.Close()
	kv := map[string]string{}
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return Metadata{}, fmt.Errorf("export: %s: %w", path, err)
		}
		kv[k.String] = v.String
	}
	if err := rows.Err(); err != nil {
		return Metadata{}, fmt.Errorf("export: %s: %w", path, err)
	}
	m := Metadata{Name: kv["name"], Description: kv["description"], Attribution: kv["attribution"]}
	switch f := kv["format"]; f {
	case "pbf":
		m.Format = "mvt"
	case "png", "jpg", "jpeg", "webp":
		m.Format, _ = normalizeFormat(f)
	default:
		if ft, ok := render.FormatOfMediaType(f); ok && ft.MediaType == f {
			m.Format = ft.Name
		}
	}
	m.MinZoom, _ = strconv.Atoi(kv["minzoom"])
	m.MaxZoom, _ = strconv.Atoi(kv["maxzoom"])
	if p := strings.Split(kv["bounds"], ","); len(p) == 4 {
		var v [4]float64
		var perr error
		for i := range p {
			if v[i], err = strconv.ParseFloat(strings.TrimSpace(p[i]), 64); err != nil {
				perr = err
			}
		}
		if perr == nil {
			m.Bounds = tiles.Bounds{MinX: v[0], MinY: v[1], MaxX: v[2], MaxY: v[3]}
		}
	}
	if j := kv["json"]; j != "" {
		var doc struct {
			VectorLayers []VectorLayer `json:"vector_layers"`
		}
		if json.Unmarshal([]byte(j), &doc) == nil {
			m.VectorLayers = doc.VectorLayers
		}
	}
	return m, nil
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
