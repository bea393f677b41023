package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/udftiles/udftiles/store"
)

// The queue's SQL runs on PostgreSQL through pgx (River's pgx driver wants
// pgx transactions, and the items a submit writes commit with its River jobs)
// and on SQLite through database/sql (River's SQLite driver). conn is what
// the SQL needs from either: a pool or a transaction. Statements use $1, $2…
// in order, which both read.
type conn interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface{ Scan(dest ...any) error }

type pgxQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgxDB wraps a *pgxpool.Pool or a pgx.Tx.
type pgxDB[T interface {
	pgxQuerier
	execer
}] struct{ c T }

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconnTag, error)
}

func (p pgxDB[T]) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.c.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
func (p pgxDB[T]) query(ctx context.Context, q string, args ...any) (rows, error) {
	return p.c.Query(ctx, q, args...)
}
func (p pgxDB[T]) queryRow(ctx context.Context, q string, args ...any) row {
	return p.c.QueryRow(ctx, q, args...)
}

// sqlDB wraps a *sql.DB or a *sql.Tx.
type sqlDB struct {
	c interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (s sqlDB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.c.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
func (s sqlDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := s.c.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}
func (s sqlDB) queryRow(ctx context.Context, q string, args ...any) row {
	return s.c.QueryRowContext(ctx, q, args...)
}

// splitDB reads through one handle and writes through another: on SQLite,
// the store's pool and its writer (store.Store.Writer).
type splitDB struct{ read, write sqlDB }

func (s splitDB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return s.write.exec(ctx, q, args...)
}
func (s splitDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	return s.read.query(ctx, q, args...)
}
func (s splitDB) queryRow(ctx context.Context, q string, args ...any) row {
	return s.read.queryRow(ctx, q, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// noRows reports the error of a row that was not found, from either driver.
func noRows(err error) bool { return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) }

// riverTx is what the queue does with River inside one of its transactions.
type riverTx interface {
	// insert inserts River jobs and returns their ids, in order.
	insert(ctx context.Context, params []river.InsertManyParams) ([]int64, error)
	// complete marks the River job of a worked item completed; false when
	// it was no longer running (another delivery of the same job ended it).
	complete(ctx context.Context, job *river.Job[itemArgs]) (bool, error)
	// remove deletes River jobs that have not started.
	remove(ctx context.Context, ids []int64) error
}

// backend is River and the database of one dialect.
type backend interface {
	// db is the pool, for reads and statements of their own (exec writes
	// through the store's writer on SQLite); writes that return rows
	// (DELETE … RETURNING) use dbw.
	db() conn
	dbw() conn
	// inTx runs fn in a transaction (PostgreSQL: read committed; SQLite:
	// BEGIN IMMEDIATE, one writer at a time) and commits it, or rolls it
	// back when fn fails.
	inTx(ctx context.Context, fn func(c conn, rt riverTx) error) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
	close()
	// forUpdate is the row lock clause of the dialect ("" on SQLite, whose
	// transactions take the database's write lock when they begin).
	forUpdate() string
	// lockClient serialises the admission of one client's submits.
	lockClient(ctx context.Context, c conn, client string) error
	// pipeline sends statements in one round trip, run as one transaction
	// (a pgx batch runs in PostgreSQL's implicit transaction: a lock one
	// statement takes holds until the last ends, and each statement of read
	// committed sees what committed before it began). false: the dialect
	// has none (SQLite, whose statements cost no round trip).
	pipeline(ctx context.Context, stmts ...stmt) (bool, error)
}

// stmt is one statement of a pipeline; scan reads its row (nil: its rows
// are not read). scan gets the row's error too (no row: noRows).
type stmt struct {
	sql  string
	args []any
	scan func(r row) error
}

// glue is a backend over River's client for the transactions TTx.
type glue[TTx any] struct {
	client    *river.Client[TTx]
	pool      conn
	wpool     conn
	begin     func(ctx context.Context) (TTx, conn, error)
	commit    func(ctx context.Context, tx TTx) error
	rollback  func(ctx context.Context, tx TTx)
	completer func(ctx context.Context, tx TTx, job *river.Job[itemArgs]) (*river.Job[itemArgs], error)
	closer    func()
	update    string
	lock      func(ctx context.Context, c conn, client string) error
	batch     func(ctx context.Context, stmts []stmt) error
}

func (g *glue[TTx]) db() conn          { return g.pool }
func (g *glue[TTx]) dbw() conn         { return g.wpool }
func (g *glue[TTx]) forUpdate() string { return g.update }
func (g *glue[TTx]) start(ctx context.Context) error {
	return g.client.Start(ctx)
}

// stop waits for the running items until ctx ends, then cancels them (they
// go back to the queue).
func (g *glue[TTx]) stop(ctx context.Context) error {
	err := g.client.Stop(ctx)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		g.client.StopAndCancel(cctx)
	}
	return err
}
func (g *glue[TTx]) close() {
	if g.closer != nil {
		g.closer()
	}
}
func (g *glue[TTx]) lockClient(ctx context.Context, c conn, client string) error {
	if g.lock == nil {
		return nil
	}
	return g.lock(ctx, c, client)
}

func (g *glue[TTx]) pipeline(ctx context.Context, stmts ...stmt) (bool, error) {
	if g.batch == nil {
		return false, nil
	}
	return true, g.batch(ctx, stmts)
}

// pgxBatch sends statements as one pgx batch.
func pgxBatch(pool *pgxpool.Pool) func(ctx context.Context, stmts []stmt) error {
	return func(ctx context.Context, stmts []stmt) error {
		b := &pgx.Batch{}
		for _, st := range stmts {
			q := b.Queue(st.sql, st.args...)
			if st.scan != nil {
				scan := st.scan
				q.QueryRow(func(r pgx.Row) error { return scan(r) })
			}
		}
		return pool.SendBatch(ctx, b).Close()
	}
}

func (g *glue[TTx]) inTx(ctx context.Context, fn func(c conn, rt riverTx) error) error {
	tx, c, err := g.begin(ctx)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	if err := fn(c, txOps[TTx]{g: g, tx: tx}); err != nil {
		g.rollback(context.WithoutCancel(ctx), tx)
		return err
	}
	if err := g.commit(ctx, tx); err != nil {
		return fmt.Errorf("jobs: commit: %w", err)
	}
	return nil
}

type txOps[TTx any] struct {
	g  *glue[TTx]
	tx TTx
}

func (o txOps[TTx]) insert(ctx context.Context, params []river.InsertManyParams) ([]int64, error) {
	if len(params) == 0 {
		return nil, nil
	}
	res, err := o.g.client.InsertManyTx(ctx, o.tx, params)
	if err != nil {
		return nil, fmt.Errorf("jobs: queueing: %w", err)
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.Job.ID
	}
	return ids, nil
}

func (o txOps[TTx]) complete(ctx context.Context, job *river.Job[itemArgs]) (bool, error) {
	if _, err := o.g.completer(ctx, o.tx, job); err != nil {
		if errors.Is(err, rivertype.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func (o txOps[TTx]) remove(ctx context.Context, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		p := river.NewJobDeleteManyParams().IDs(ids[:n]...).First(n).
			States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStatePending)
		if _, err := o.g.client.JobDeleteManyTx(ctx, o.tx, p); err != nil {
			return fmt.Errorf("jobs: removing queued items: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// pgconnTag is what Exec returns in pgx (pgconn.CommandTag).
type pgconnTag = interface{ RowsAffected() int64 }

// pgxPoolAdapter and pgxTxAdapter give pgx's Exec the execer shape.
type pgxPoolAdapter struct{ *pgxpool.Pool }

func (a pgxPoolAdapter) Exec(ctx context.Context, q string, args ...any) (pgconnTag, error) {
	return a.Pool.Exec(ctx, q, args...)
}

type pgxTxAdapter struct{ pgx.Tx }

func (a pgxTxAdapter) Exec(ctx context.Context, q string, args ...any) (pgconnTag, error) {
	return a.Tx.Exec(ctx, q, args...)
}

// riverMigrateLock is the advisory lock River's migrations run under on
// PostgreSQL, so that replicas starting together migrate once.
const riverMigrateLock int64 = 0x7564667469_7276 // "udftirv"

// newBackend opens River over the store: on PostgreSQL a pgx pool of its
// own on the store's URL, on SQLite the store's database. River's
// migrations run first.
func newBackend(ctx context.Context, st *store.Store, cfg *river.Config, poolSize int) (backend, error) {
	switch st.Dialect() {
	case store.Postgres:
		pc, err := pgxpool.ParseConfig(st.URL())
		if err != nil {
			return nil, fmt.Errorf("jobs: the store's URL: %w", err)
		}
		pc.MaxConns = int32(max(4, poolSize))
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return nil, fmt.Errorf("jobs: connecting: %w", err)
		}
		drv := riverpgxv5.New(pool)
		if err := migratePG(ctx, pool, drv); err != nil {
			pool.Close()
			return nil, err
		}
		client, err := river.NewClient(drv, cfg)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("jobs: %w", err)
		}
		return &glue[pgx.Tx]{
			client: client,
			pool:   pgxDB[pgxPoolAdapter]{pgxPoolAdapter{pool}},
			wpool:  pgxDB[pgxPoolAdapter]{pgxPoolAdapter{pool}},
			begin: func(ctx context.Context) (pgx.Tx, conn, error) {
				tx, err := pool.Begin(ctx)
				if err != nil {
					return nil, nil, err
				}
				return tx, pgxDB[pgxTxAdapter]{pgxTxAdapter{tx}}, nil
			},
			commit:    func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) },
			rollback:  func(ctx context.Context, tx pgx.Tx) { tx.Rollback(ctx) },
			completer: river.JobCompleteTx[*riverpgxv5.Driver, pgx.Tx, itemArgs],
			batch:     pgxBatch(pool),
			closer:    pool.Close,
			update:    " FOR UPDATE",
			lock: func(ctx context.Context, c conn, client string) error {
				_, err := c.exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", "udftiles-jobs:"+client)
				return err
			},
		}, nil
	case store.SQLite:
		db := st.Writer()
		drv := riversqlite.New(db)
		if err := migrateSQLite(ctx, drv); err != nil {
			return nil, err
		}
		client, err := river.NewClient(drv, cfg)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		return &glue[*sql.Tx]{
			client: client,
			pool:   splitDB{read: sqlDB{st.DB()}, write: sqlDB{db}},
			wpool:  sqlDB{db},
			begin: func(ctx context.Context) (*sql.Tx, conn, error) {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return nil, nil, err
				}
				return tx, sqlDB{tx}, nil
			},
			commit:    func(_ context.Context, tx *sql.Tx) error { return tx.Commit() },
			rollback:  func(_ context.Context, tx *sql.Tx) { tx.Rollback() },
			completer: river.JobCompleteTx[*riversqlite.Driver, *sql.Tx, itemArgs],
		}, nil
	}
	return nil, fmt.Errorf("jobs: no queue for a %s store", st.Dialect())
}

// migratePG runs River's migrations (each in a transaction of its own: one
// adds an enum value that the next uses) under a session advisory lock, so
// that replicas starting together take turns and the later ones find
// nothing to do.
func migratePG(ctx context.Context, pool *pgxpool.Pool, drv *riverpgxv5.Driver) error {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return fmt.Errorf("jobs: River's migrations: %w", err)
	}
	lock, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("jobs: River's migrations: %w", err)
	}
	defer lock.Release()
	if _, err := lock.Exec(ctx, "SELECT pg_advisory_lock($1)", riverMigrateLock); err != nil {
		return fmt.Errorf("jobs: River's migration lock: %w", err)
	}
	defer lock.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", riverMigrateLock)
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: River's migrations: %w", err)
	}
	return nil
}

// sqliteMigrations serialises River's migrations of the SQLite stores of
// this process.
var sqliteMigrations sync.Mutex

// migrateSQLite runs River's migrations (each in a transaction of its own,
// which holds the database's write lock from its start), retrying as the
// store does when another process migrates the same file at the same time:
// the next attempt finds the migrations done.
func migrateSQLite(ctx context.Context, drv *riversqlite.Driver) error {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return fmt.Errorf("jobs: River's migrations: %w", err)
	}
	sqliteMigrations.Lock()
	defer sqliteMigrations.Unlock()
	for attempt := 1; ; attempt++ {
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("jobs: River's migrations: %w", err)
	}
	return nil
}
