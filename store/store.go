package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// Dialects, as Dialect returns them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// NotifyChannel is the PostgreSQL channel every write of a change notifies
// (with the change's seq as payload), and Follow listens on.
const NotifyChannel = "udftiles_changes"

// Store is the database. Its methods are safe for concurrent use.
type Store struct {
	db *sql.DB
	// writer is, on SQLite, a handle of one connection on the same file,
	// for transactions that write (see Writer); on PostgreSQL, db.
	writer   *sql.DB
	dialect  string
	url      string // the PostgreSQL URL, for Follow's LISTEN connection
	provider *goose.Provider
	log      *slog.Logger
}

// Option configures Open.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets the logger of the store's background work (migrations,
// Follow's retries). The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// acceptedURLs names the URL forms Open takes, for its errors.
const acceptedURLs = `"sqlite:///abs/path.db", "sqlite://relative/path.db", "sqlite://:memory:", "postgres://…" or "postgresql://…"`

// Open opens the database at url and migrates its schema to the newest this
// binary knows:
//
//	sqlite:///abs/path/udftiles.db   an absolute path
//	sqlite://relative/path.db        relative to the working directory
//	sqlite://:memory:                a private in-memory database (tests)
//	postgres://… or postgresql://…   PostgreSQL, through pgx
//
// The directory of a SQLite file is created if missing. If the database was
// migrated by a newer server (its schema version is above the newest
// migration here), Open changes nothing and returns an error wrapping
// [ErrNewerSchema]. On PostgreSQL, migrations run under a session advisory
// lock, so that replicas starting together migrate once.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Store{log: o.log}
	var err error
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		s.dialect = SQLite
		s.db, err = openSQLite(strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		s.dialect = Postgres
		s.url = url
		s.db, err = sql.Open("pgx", url)
	default:
		return nil, fmt.Errorf("store: unsupported database URL %q: want %s", redact(url), acceptedURLs)
	}
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", redact(url), err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: connecting to %s: %w", redact(url), err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: %s: %w", redact(url), err)
	}
	s.writer = s.db
	if s.dialect == SQLite && !strings.HasSuffix(url, ":memory:") {
		if s.writer, err = openSQLite(strings.TrimPrefix(url, "sqlite://")); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("store: opening %s: %w", redact(url), err)
		}
		s.writer.SetMaxOpenConns(1)
		s.writer.SetMaxIdleConns(1)
	}
	return s, nil
}

// openSQLite opens a SQLite database: path is what follows "sqlite://".
func openSQLite(path string) (*sql.DB, error) {
	if path == "" {
		return nil, fmt.Errorf("no path in the URL: want %s", acceptedURLs)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, errors.New(`SQLite paths with "?" or "#" (or URL parameters) are not supported`)
	}
	// BEGIN IMMEDIATE: a transaction takes the write lock when it starts, so
	// that a read-then-write transaction waits (busy_timeout) instead of
	// failing with SQLITE_BUSY when another connection writes first.
	params := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	if path == ":memory:" {
		db, err := sql.Open("sqlite", ":memory:?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate")
		if err != nil {
			return nil, err
		}
		// Every connection to :memory: is a database of its own: keep one.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		return db, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, err
	}
	return sql.Open("sqlite", abs+params)
}

// redact hides the password of a URL in errors.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@")
	if at < 0 {
		return url
	}
	userinfo := rest[:at]
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx" + rest[at:]
	}
	return url
}

// Close closes the database.
func (s *Store) Close() error {
	if s.writer != nil && s.writer != s.db {
		s.writer.Close()
	}
	return s.db.Close()
}

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// DB is the database handle, for packages that keep tables of their own in
// the same database.
func (s *Store) DB() *sql.DB { return s.db }

// Writer is the handle for transactions that write. On SQLite, one writer
// at a time holds the file's lock, and a connection that finds it held
// waits in SQLite's busy handler, in sleeps of up to 100 ms: the writers of
// this process take turns on one connection instead, which costs them a
// wait on a Go lock (other processes on the same file still meet the busy
// handler). Reads, and streams of rows, use DB. On PostgreSQL it is DB.
func (s *Store) Writer() *sql.DB { return s.writer }

// URL is the PostgreSQL URL the store was opened with ("" for SQLite), for
// packages that need connections of their own (package jobs opens a pgx pool
// for River).
func (s *Store) URL() string { return s.url }

// SchemaVersion is the database's schema version: the highest migration
// applied.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	return s.provider.GetDBVersion(ctx)
}

// tx runs fn in a transaction and commits it, or rolls it back if fn fails.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// now is the time written: UTC, to the microsecond (PostgreSQL's precision).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// sqliteTime is how times are written to SQLite: fixed width, so that text
// order is time order.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// ts is the argument for time t.
func (s *Store) ts(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if s.dialect == SQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// nts is the argument for an optional time.
func (s *Store) nts(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.ts(*t)
}

// timeCol scans a time column of either dialect into *t (UTC).
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	t, err := parseTime(v)
	if err != nil {
		return err
	}
	if t == nil {
		return errors.New("store: NULL time")
	}
	*c.t = *t
	return nil
}

// nullTimeCol scans an optional time column into *t (nil for NULL).
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(v any) error {
	t, err := parseTime(v)
	if err != nil {
		return err
	}
	*c.t = t
	return nil
}

func parseTime(v any) (*time.Time, error) {
	var t time.Time
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t = x
	case string:
		return parseTimeText(x)
	case []byte:
		return parseTimeText(string(x))
	default:
		return nil, fmt.Errorf("store: cannot scan %T as a time", v)
	}
	t = t.UTC()
	return &t, nil
}

func parseTimeText(s string) (*time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("store: bad time %q: %w", s, err)
	}
	t = t.UTC()
	return &t, nil
}
