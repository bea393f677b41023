package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// QueueJob is a job of a Queue: a handle on its rows, which any replica
// reads and changes.
type QueueJob struct {
	q       *Queue
	id      string
	owner   string
	client  string
	udf     string
	created time.Time
}

// ID is the job's id.
func (j *QueueJob) ID() string { return j.id }

// Owner is the name of the bearer token that submitted the job ("" for anonymous).
func (j *QueueJob) Owner() string { return j.owner }

// UDF is the layer the job runs.
func (j *QueueJob) UDF() string { return j.udf }

// Status counts the job's items by state: ErrNotFound once it is deleted.
func (j *QueueJob) Status(ctx context.Context) (Status, error) {
	return j.q.status(ctx, j.q.b.db(), j.id)
}

func (q *Queue) status(ctx context.Context, c conn, id string) (Status, error) {
	s := Status{ID: id}
	err := c.queryRow(ctx, `SELECT udf, state, reason, total, created_at, finished_at FROM jobs WHERE id = $1`, id).
		Scan(&s.UDF, &s.State, &s.Reason, &s.Total, timeCol{&s.Created}, timeCol{&s.Finished})
	if noRows(err) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("jobs: %w", err)
	}
	if err := q.count(ctx, c, &s); err != nil {
		return s, err
	}
	if s.State == JobRunning && s.Pending+s.Running == 0 {
		// Its last items ended together: it is done.
		at := now()
		if err := q.maybeDone(ctx, c, id, q.ts(at)); err != nil {
			return s, fmt.Errorf("jobs: %w", err)
		}
		err := c.queryRow(ctx, `SELECT state, finished_at FROM jobs WHERE id = $1`, id).Scan(&s.State, timeCol{&s.Finished})
		if err != nil {
			return s, fmt.Errorf("jobs: %w", err)
		}
	}
	return s, nil
}

// Cancel stops the job: its pending and running items end cancelled at
// once (the runs under way are abandoned within a moment, on whichever
// replica), and the River jobs not yet started are removed. An ended job is
// left as it is.
func (j *QueueJob) Cancel(ctx context.Context) error {
	q := j.q
	return q.b.inTx(ctx, func(c conn, rt riverTx) error {
		var state string
		err := c.queryRow(ctx, `SELECT state FROM jobs WHERE id = $1`+q.b.forUpdate(), j.id).Scan(&state)
		if noRows(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		if state != JobRunning {
			return nil
		}
		var ids []int64
		r, err := c.query(ctx, `SELECT river_id FROM job_items WHERE job_id = $1 AND status = $2 AND river_id IS NOT NULL`, j.id, Pending)
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		for r.Next() {
			var id int64
			if err := r.Scan(&id); err != nil {
				r.Close()
				return fmt.Errorf("jobs: %w", err)
			}
			ids = append(ids, id)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		at := q.ts(now())
		if _, err := c.exec(ctx, `UPDATE job_items SET status = $2, error = 'cancelled', lease = lease + 1, instance = '', updated_at = $3
			WHERE job_id = $1 AND status IN ('pending', 'running')`, j.id, Cancelled, at); err != nil {
			return fmt.Errorf("jobs: cancelling the items: %w", err)
		}
		if _, err := c.exec(ctx, `UPDATE jobs SET state = $2, finished_at = $3 WHERE id = $1`, j.id, JobCancelled, at); err != nil {
			return fmt.Errorf("jobs: cancelling: %w", err)
		}
		// River jobs that are running, or locked by a fetch, stay: they
		// find their item cancelled and end without running it.
		return rt.remove(ctx, ids)
	})
}

// Retry runs the failed and cancelled items again, as the job's owner, and
// reports how many: ErrRunning while the job runs, a *LimitError when its
// client has as many jobs running as it may.
func (j *QueueJob) Retry(ctx context.Context) (int, error) {
	q := j.q
	n := 0
	err := q.b.inTx(ctx, func(c conn, rt riverTx) error {
		var state, specJSON string
		err := c.queryRow(ctx, `SELECT state, spec FROM jobs WHERE id = $1`+q.b.forUpdate(), j.id).Scan(&state, &specJSON)
		if noRows(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		if state == JobRunning {
			return ErrRunning
		}
		var spec Spec
		if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
			return fmt.Errorf("jobs: the job's spec: %w", err)
		}
		var todo []int
		r, err := c.query(ctx, `SELECT idx FROM job_items WHERE job_id = $1 AND status IN ('error', 'cancelled', 'pending') ORDER BY idx`, j.id)
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		for r.Next() {
			var i int
			if err := r.Scan(&i); err != nil {
				r.Close()
				return fmt.Errorf("jobs: %w", err)
			}
			todo = append(todo, i)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		if len(todo) == 0 {
			return nil
		}
		if j.client != "" {
			if err := q.b.lockClient(ctx, c, j.client); err != nil {
				return err
			}
			if err := q.admit(ctx, c, j.client, j.id, false); err != nil {
				return err
			}
		}
		params := make([]river.InsertManyParams, len(todo))
		for k, i := range todo {
			params[k] = river.InsertManyParams{Args: itemArgs{JobID: j.id, Index: i}, InsertOpts: q.insertOpts(spec)}
		}
		ids, err := rt.insert(ctx, params)
		if err != nil {
			return err
		}
		at := q.ts(now())
		for k, i := range todo {
			if _, err := c.exec(ctx, `UPDATE job_items SET status = 'pending', lease = lease + 1, instance = '', replica = '', river_id = $3,
				attempts = 0, rescues = 0, seconds = 0, error = '', logs = '', content_type = '', cache = '', size = 0, result = NULL, result_key = '', updated_at = $4
				WHERE job_id = $1 AND idx = $2`, j.id, i, ids[k], at); err != nil {
				return fmt.Errorf("jobs: %w", err)
			}
		}
		if _, err := c.exec(ctx, `UPDATE jobs SET state = $2, reason = '', finished_at = NULL WHERE id = $1`, j.id, JobRunning); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		n = len(todo)
		return nil
	})
	return n, err
}

// Wait blocks until the job ends (or is deleted) or ctx does.
func (j *QueueJob) Wait(ctx context.Context) error {
	for {
		s, err := j.Status(ctx)
		if err == ErrNotFound || (err == nil && s.State != JobRunning) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// itemColumns are the columns of an Item, as scanItem reads them.
const itemColumns = `idx, args, status, attempts, seconds, error, logs, content_type, cache, size, replica, lease, updated_at`

func scanItem(r row, it *Item, extra ...any) error {
	var args string
	dest := append([]any{&it.Index, &args, &it.Status, &it.Attempts, &it.Seconds, &it.Error, &it.Logs, &it.ContentType,
		&it.Cache, &it.Size, &it.Replica, &it.Lease, timeCol{&it.Updated}}, extra...)
	if err := r.Scan(dest...); err != nil {
		return err
	}
	it.Args = map[string]string{}
	return json.Unmarshal([]byte(args), &it.Args)
}

// Items returns the items in argument order, without their results.
func (j *QueueJob) Items(ctx context.Context) ([]Item, error) {
	r, err := j.q.b.db().query(ctx, `SELECT `+itemColumns+` FROM job_items WHERE job_id = $1 ORDER BY idx`, j.id)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer r.Close()
	var out []Item
	for r.Next() {
		var it Item
		if err := scanItem(r, &it); err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		out = append(out, it)
	}
	return out, r.Err()
}

// Ended returns the items that ended at or after since (as the database's
// clock of the replica that ended them says), with their logs, oldest first.
func (j *QueueJob) Ended(ctx context.Context, since time.Time) ([]Item, error) {
	r, err := j.q.b.db().query(ctx, `SELECT `+itemColumns+` FROM job_items
		WHERE job_id = $1 AND status IN ('ok', 'error', 'cancelled') AND updated_at >= $2 ORDER BY updated_at, idx`, j.id, j.q.ts(since))
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer r.Close()
	var out []Item
	for r.Next() {
		var it Item
		if err := scanItem(r, &it); err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		out = append(out, it)
	}
	return out, r.Err()
}

// Results calls fn with each item, in argument order, and its result, read
// from the database a page at a time; a result kept as an object (S3) is
// read when its turn comes: one such result in memory at a time.
func (j *QueueJob) Results(ctx context.Context, fn func(it Item, result []byte) error) error {
	const page = 64
	for next := 0; ; {
		r, err := j.q.b.db().query(ctx, `SELECT `+itemColumns+`, result, result_key FROM job_items WHERE job_id = $1 AND idx >= $2 ORDER BY idx LIMIT `+fmt.Sprint(page), j.id, next)
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		type got struct {
			it   Item
			body []byte
			key  string
		}
		var batch []got
		for r.Next() {
			var g got
			if err := scanItem(r, &g.it, &g.body, &g.key); err != nil {
				r.Close()
				return fmt.Errorf("jobs: %w", err)
			}
			batch = append(batch, g)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		// The rows are read before fn writes them out: no read stays open
		// while a slow client reads.
		for i := range batch {
			g := &batch[i]
			if g.it.Status != OK {
				g.body = nil
			} else if g.key != "" {
				body, err := j.q.readResult(ctx, g.key, g.it.Size)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					j.q.log.Warn("jobs: a result was not read", "job", j.id, "item", g.it.Index, "error", err.Error())
					g.it.Status, g.it.Error = Failed, "502: the result was not read from S3: "+err.Error()
				}
				g.body = body
			}
			err := fn(g.it, g.body)
			g.body = nil
			if err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		next = batch[len(batch)-1].it.Index + 1
	}
}
