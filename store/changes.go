package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The change log: every write of the catalog or the tokens appends a change
// in its own transaction, and every replica follows the log (Follow) to drop
// what it caches. A follower remembers the last Seq it saw and asks for the
// ones after it, so Seqs must become visible in their order: a follower that
// saw 6 must never find 5 later.
//
// On SQLite writes are serialised (BEGIN IMMEDIATE), so that holds. On
// PostgreSQL an identity column hands out numbers at insert time, and two
// transactions can commit in the other order; so every transaction that
// appends a change takes changeLockID with pg_advisory_xact_lock just before
// it inserts, and holds it until it has committed (the lock is released after
// the commit is visible). Appending is the last thing a transaction does, so
// the lock is held briefly and never before a row lock (no deadlocks).

// changeLockID is the key of the transaction advisory lock that orders the
// change log's writers on PostgreSQL.
const changeLockID = migrateLockID + 1

// DefaultChangesLimit is what Changes returns at most when limit <= 0.
const DefaultChangesLimit = 1000

// recordTx appends a change in tx (on PostgreSQL with pg_notify, delivered
// when tx commits).
func (s *Store) recordTx(ctx context.Context, tx *sql.Tx, kind, name, data string, at time.Time) (int64, error) {
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, changeLockID); err != nil {
			return 0, fmt.Errorf("store: locking the change log: %w", err)
		}
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO changes (kind, name, data, at) VALUES ($1, $2, $3, $4) RETURNING seq`,
		kind, name, data, s.ts(at)).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: recording a change: %w", err)
	}
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, strconv.FormatInt(seq, 10)); err != nil {
			return 0, fmt.Errorf("store: notifying a change: %w", err)
		}
	}
	return seq, nil
}

// Record appends a change that goes with no other write (a purge of cached
// results, say) and returns its Seq.
func (s *Store) Record(ctx context.Context, kind, name, data string) (int64, error) {
	if kind == "" {
		return 0, errors.New("store: empty change kind")
	}
	var seq int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		seq, err = s.recordTx(ctx, tx, kind, name, data, now())
		return err
	})
	return seq, err
}

// Changes returns the changes with Seq > after, in Seq order, at most limit
// of them (DefaultChangesLimit if limit <= 0).
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	if limit <= 0 {
		limit = DefaultChangesLimit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, kind, name, data, at FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: reading changes: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Seq, &c.Kind, &c.Name, &c.Data, timeCol{&c.At}); err != nil {
			return nil, fmt.Errorf("store: reading changes: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading changes: %w", err)
	}
	return out, nil
}

// LastChange is the Seq of the newest change, 0 when there is none. A
// replica starting afresh follows from it.
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM changes`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: reading the last change: %w", err)
	}
	return seq.Int64, nil
}

// PruneChanges deletes the changes older than olderThan, but never the
// newest one (so that LastChange stays put), and returns how many it
// deleted. Seqs are never reused.
func (s *Store) PruneChanges(ctx context.Context, olderThan time.Time) (int, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM changes WHERE at < $1 AND seq < (SELECT MAX(seq) FROM changes)`, s.ts(olderThan))
	if err != nil {
		return 0, fmt.Errorf("store: pruning changes: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// DefaultFollowEvery is how often Follow polls when every is 0.
const DefaultFollowEvery = 200 * time.Millisecond

// Follow calls fn with every change after Seq after, once each and in Seq
// order, as changes are written (by this store or any other on the same
// database), until ctx is done; then it returns ctx.Err(). fn runs on
// Follow's goroutine, one change at a time.
//
// It polls every `every` (DefaultFollowEvery if 0). On PostgreSQL it also
// LISTENs on NotifyChannel on a connection of its own and polls at once when
// a change is notified, so that other replicas hear of a change within
// milliseconds. Database errors (of the polls or the LISTEN connection) are
// logged and retried with backoff; Follow does not return before ctx is done.
// Cancel it before closing the store.
func (s *Store) Follow(ctx context.Context, after int64, every time.Duration, fn func(Change)) error {
	if fn == nil {
		return errors.New("store: Follow without a function")
	}
	if every <= 0 {
		every = DefaultFollowEvery
	}
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	if s.dialect == Postgres {
		lctx, cancel := context.WithCancel(ctx)
		defer func() { cancel(); wg.Wait() }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.listen(lctx, wake)
		}()
	}

	timer := time.NewTimer(0) // poll at once
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-wake:
		}
		next := every
		for {
			cs, err := s.Changes(ctx, after, DefaultChangesLimit)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				failures++
				next = max(every, backoff(failures))
				s.log.Warn("store: following changes: retrying", "after", after, "failures", failures, "retry_in", next, "err", err)
				break
			}
			failures = 0
			for _, c := range cs {
				fn(c)
				after = c.Seq
			}
			if len(cs) < DefaultChangesLimit {
				break
			}
		}
		timer.Reset(next)
	}
}

// listen keeps a connection LISTENing on NotifyChannel and signals wake at
// each notification (and after each (re)connection, in case one was missed),
// until ctx is done.
func (s *Store) listen(ctx context.Context, wake chan<- struct{}) {
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	failures := 0
	for ctx.Err() == nil {
		err := func() error {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			conn, err := pgx.Connect(cctx, s.url)
			cancel()
			if err != nil {
				return err
			}
			defer func() {
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				conn.Close(cctx)
			}()
			if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
				return err
			}
			failures = 0
			signal()
			for {
				if _, err := conn.WaitForNotification(ctx); err != nil {
					return err
				}
				signal()
			}
		}()
		if ctx.Err() != nil {
			return
		}
		failures++
		wait := backoff(failures)
		s.log.Warn("store: listening for changes: retrying (polling meanwhile)", "channel", NotifyChannel, "failures", failures, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// backoff is the wait after n consecutive failures: 100ms doubling, at most
// 10s.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < 10*time.Second; i++ {
		d *= 2
	}
	return min(d, 10*time.Second)
}
