package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
)

// The schema's migrations, one set per dialect, applied in order of their
// numbers by goose. A migration, once released, is never edited: a change is
// a new file in both directories.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// migrateLockID is the key of the session advisory lock PostgreSQL
// migrations run under ("udftiles" in ASCII).
const migrateLockID int64 = 0x7564667469_6c6573

// sqliteMigrations serialises the migrations of SQLite stores opened in this
// process.
var sqliteMigrations sync.Mutex

// migrate brings the schema to the newest migration, unless the database's
// is newer (ErrNewerSchema).
func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/"+s.dialect)
	if err != nil {
		return err
	}
	dialect := goose.DialectSQLite3
	if s.dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	// The Provider, unlike goose's global functions, holds its own state, so
	// two stores in one process do not collide.
	p, err := goose.NewProvider(dialect, s.db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	s.provider = p
	sources := p.ListSources()
	newest := sources[len(sources)-1].Version

	if s.dialect == SQLite {
		// Stores of one process take turns (goose waits a second when it
		// finds another creating its version table at the same time).
		sqliteMigrations.Lock()
		defer sqliteMigrations.Unlock()
	}
	if s.dialect == Postgres {
		// One session lock around the check and the migrations: replicas
		// starting together take turns, and the later ones find nothing to
		// do. pg_advisory_lock waits as long as it takes (or until ctx ends).
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockID)
	}

	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if current > newest {
		return fmt.Errorf("%w: the database is at schema version %d, this server knows up to %d; upgrade the server", ErrNewerSchema, current, newest)
	}
	if current == newest {
		return nil
	}
	start := time.Now()
	var results []*goose.MigrationResult
	for attempt := 1; ; attempt++ {
		results, err = p.Up(ctx)
		// On SQLite, another process migrating the same file at the same
		// time makes ours fail (in its
		// transaction, which rolls back); the next attempt finds it done.
		if err == nil || s.dialect != SQLite || attempt == 3 || ctx.Err() != nil {
			break
		}
		s.log.Warn("store: migration failed, retrying", "err", err)
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("migrating from schema version %d: %w", current, err)
	}
	if len(results) > 0 {
		s.log.Info("store: migrated the schema", "dialect", s.dialect, "from", current,
			"to", results[len(results)-1].Source.Version, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
