package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/udftiles/udftiles/store"
)

// claimOutcome is what a worker found when it went to claim its item.
type claimOutcome int

const (
	claimed   claimOutcome = iota
	claimGone              // the job or item is gone, ended, or is another River job's: nothing to do
	claimFull              // the job has max_workers items running: later
	claimHeld              // another live worker runs the item (River delivered its job twice): later
)

// claim is an item claimed by a worker.
type claim struct {
	outcome  claimOutcome
	lease    int64
	spec     Spec
	args     map[string]string
	attempts int
	started  time.Time
	// resultBytes are the job's results when the item was claimed: what
	// its end checks limits.max_job_result_mb against.
	resultBytes int64
}

// claim takes the item of River job riverID: pending → running under this
// process, unless the job has max_workers items running over every replica.
// The job's row is locked first (PostgreSQL: FOR UPDATE; SQLite: the
// transaction holds the write lock), so claims of one job take turns and
// the count is exact.
func (q *Queue) claim(ctx context.Context, c conn, a itemArgs, riverID int64) (claim, error) {
	var cl claim
	var specJSON, state, owner, client string
	var maxWorkers int
	err := c.queryRow(ctx, `SELECT spec, state, owner, client, max_workers, result_bytes FROM jobs WHERE id = $1`+q.b.forUpdate(), a.JobID).
		Scan(&specJSON, &state, &owner, &client, &maxWorkers, &cl.resultBytes)
	if noRows(err) {
		cl.outcome = claimGone
		return cl, nil
	}
	if err != nil {
		return cl, err
	}
	var args string
	if state == JobRunning {
		// The usual case in one statement: the item is pending, this River
		// job's, and the job has room under max_workers. The job's row is
		// locked: the count, read by a statement of its own after the lock
		// (read committed: a snapshot of its own), is exact.
		at := now()
		err := c.queryRow(ctx, `UPDATE job_items SET status = 'running', lease = lease + 1, instance = $4, replica = $5,
			started_at = COALESCE(started_at, $6), updated_at = $6
			WHERE job_id = $1 AND idx = $2 AND river_id = $3 AND status = 'pending'
			AND (SELECT COUNT(*) FROM job_items WHERE job_id = $1 AND status = 'running') < $7
			RETURNING lease, attempts, args, started_at`,
			a.JobID, a.Index, riverID, q.instance, q.replica, q.ts(at), maxWorkers).
			Scan(&cl.lease, &cl.attempts, &args, timeCol{&cl.started})
		if err == nil {
			return cl, q.claimed(&cl, specJSON, owner, client, args)
		}
		if !noRows(err) {
			return cl, err
		}
		// Else: why not, below.
	}
	var status, instance string
	var itemRiver *int64
	err = c.queryRow(ctx, `SELECT status, lease, instance, river_id, attempts, args, started_at FROM job_items WHERE job_id = $1 AND idx = $2`, a.JobID, a.Index).
		Scan(&status, &cl.lease, &instance, &itemRiver, &cl.attempts, &args, timeCol{&cl.started})
	if noRows(err) || (err == nil && (itemRiver == nil || *itemRiver != riverID)) {
		cl.outcome = claimGone
		return cl, nil
	}
	if err != nil {
		return cl, err
	}
	switch status {
	case Running:
		// River delivered the job again while the item runs: River's
		// rescue of a long run, or its replica died.
		if instance == q.instance && q.runs(a) {
			cl.outcome = claimHeld
			return cl, nil
		}
		if instance != q.instance {
			alive, err := q.alive(ctx, c, instance)
			if err != nil {
				return cl, err
			}
			if alive {
				cl.outcome = claimHeld
				return cl, nil
			}
		}
		// Its runner is gone: this worker takes it over, in its slot.
	case Pending:
		if state != JobRunning {
			cl.outcome = claimGone
			return cl, nil
		}
		var running int
		if err := c.queryRow(ctx, `SELECT COUNT(*) FROM job_items WHERE job_id = $1 AND status = 'running'`, a.JobID).Scan(&running); err != nil {
			return cl, err
		}
		if running >= maxWorkers {
			cl.outcome = claimFull
			return cl, nil
		}
	default:
		cl.outcome = claimGone
		return cl, nil
	}
	at := now()
	if cl.started.IsZero() {
		cl.started = at
	}
	if _, err := c.exec(ctx, `UPDATE job_items SET status = 'running', lease = lease + 1, instance = $3, replica = $4,
		started_at = COALESCE(started_at, $5), updated_at = $5 WHERE job_id = $1 AND idx = $2`,
		a.JobID, a.Index, q.instance, q.replica, q.ts(at)); err != nil {
		return cl, err
	}
	cl.lease++
	return cl, q.claimed(&cl, specJSON, owner, client, args)
}

// claimPipelined is claim's usual case in one round trip, where the dialect
// pipelines (PostgreSQL): the job's row locked, then the item claimed if it
// is pending and this River job's, and the job runs with room under
// max_workers (the count's statement begins after the lock is held: it sees
// every claim before it). false: not claimed here (a full job, a held or
// orphaned item, a job not running): claim finds out why, in a transaction.
func (q *Queue) claimPipelined(ctx context.Context, a itemArgs, riverID int64) (cl claim, ok bool, err error) {
	var specJSON, state, owner, client, args string
	var maxWorkers int
	found, took := false, false
	at := q.ts(now())
	piped, err := q.b.pipeline(ctx,
		stmt{sql: `SELECT spec, state, owner, client, max_workers, result_bytes FROM jobs WHERE id = $1 FOR UPDATE`, args: []any{a.JobID},
			scan: func(r row) error {
				err := r.Scan(&specJSON, &state, &owner, &client, &maxWorkers, &cl.resultBytes)
				found = err == nil
				if noRows(err) {
					return nil
				}
				return err
			}},
		stmt{sql: `UPDATE job_items SET status = 'running', lease = lease + 1, instance = $4, replica = $5,
			started_at = COALESCE(started_at, $6), updated_at = $6
			WHERE job_id = $1 AND idx = $2 AND river_id = $3 AND status = 'pending'
			AND (SELECT COUNT(*) FROM job_items WHERE job_id = $1 AND status = 'running') < (SELECT max_workers FROM jobs WHERE id = $1 AND state = 'running')
			RETURNING lease, attempts, args, started_at`, args: []any{a.JobID, a.Index, riverID, q.instance, q.replica, at},
			scan: func(r row) error {
				err := r.Scan(&cl.lease, &cl.attempts, &args, timeCol{&cl.started})
				took = err == nil
				if noRows(err) {
					return nil
				}
				return err
			}})
	switch {
	case err != nil || !piped:
		return cl, false, err
	case !found:
		cl.outcome = claimGone
		return cl, true, nil
	case !took:
		return cl, false, nil
	}
	return cl, true, q.claimed(&cl, specJSON, owner, client, args)
}

// claimed fills a claim's spec and args.
func (q *Queue) claimed(cl *claim, specJSON, owner, client, args string) error {
	if err := json.Unmarshal([]byte(specJSON), &cl.spec); err != nil {
		return fmt.Errorf("the job's spec: %w", err)
	}
	cl.spec.Owner, cl.spec.Client = owner, client
	if err := json.Unmarshal([]byte(args), &cl.args); err != nil {
		return fmt.Errorf("the item's args: %w", err)
	}
	return nil
}

// alive reports whether the process instance has a fresh heartbeat.
func (q *Queue) alive(ctx context.Context, c conn, instance string) (bool, error) {
	if instance == "" {
		return false, nil
	}
	var n int
	err := c.queryRow(ctx, `SELECT COUNT(*) FROM job_replicas WHERE instance = $1 AND seen_at > $2`, instance, q.ts(now().Add(-q.opt.RescueAfter))).Scan(&n)
	return n > 0, err
}

// runs reports whether this process runs the item.
func (q *Queue) runs(a itemArgs) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.running[itemKey{a.JobID, a.Index}]
	return ok
}

// work is River's delivery of an item's job.
func (q *Queue) work(ctx context.Context, job *river.Job[itemArgs]) error {
	a := job.Args
	cl, ok, err := q.claimPipelined(ctx, a, job.ID)
	if err == nil && !ok {
		err = q.b.inTx(ctx, func(c conn, _ riverTx) error {
			var err error
			cl, err = q.claim(ctx, c, a, job.ID)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("claiming item %d of job %s: %w", a.Index, a.JobID, err)
	}
	switch cl.outcome {
	case claimGone:
		return nil
	case claimFull:
		q.met.snooze("max_workers")
		return river.JobSnooze(150*time.Millisecond + rand.N(100*time.Millisecond))
	case claimHeld:
		q.met.snooze("held")
		return river.JobSnooze(2 * time.Second)
	}
	q.met.claim()
	params := map[string]string{}
	for k, v := range cl.spec.Params {
		params[k] = v
	}
	for k, v := range cl.args {
		params[k] = v
	}
	runCtx, cancel := context.WithCancel(ctx)
	ri := q.track(itemKey{a.JobID, a.Index}, cl.lease, cancel)
	defer q.untrack(itemKey{a.JobID, a.Index}, ri)
	start := time.Now()
	out, err := (*q.run.Load())(runCtx, cl.spec.UDF, params, &cl.spec)
	secs := time.Since(start).Seconds()
	cancel()
	if ri.lost.Load() {
		// Cancelled, deleted or taken over: the item's end is written by
		// whoever holds it now.
		q.met.item("abandoned", secs)
		return nil
	}
	// A result written after River was told to stop still counts; a run
	// River stopped gives its item back to the queue at once.
	wctx := context.WithoutCancel(ctx)
	end := itemEnd{status: OK, attempts: cl.attempts + 1, seconds: secs}
	if ctx.Err() != nil && err != nil {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			q.finish(wctx, job, cl, itemEnd{status: Pending})
			q.met.item("stopped", secs)
			return river.JobSnooze(0)
		}
		// River's timeout, past the tile service's: a failure that may pass.
		err = &RunError{Status: 504, Msg: fmt.Sprintf("504: the item ran longer than %v", q.opt.RunTimeout+q.opt.RescueAfter)}
	}
	if err == nil && q.opt.Results != nil && len(out.Body) > q.opt.ResultInline {
		// A large result is written as an object of its own (a key of this
		// run's lease: a late run never overwrites the winner's), before
		// the transaction that ends the item; not kept, it is deleted.
		key := resultKey(a.JobID, a.Index, cl.lease)
		if perr := q.opt.Results.Put(wctx, key, out.Body, out.ContentType); perr != nil {
			err = &RunError{Status: 502, Msg: "502: the result was not written to S3: " + perr.Error(), Logs: out.Logs}
		} else {
			end.key = key
		}
	}
	var re *RunError
	switch {
	case err == nil:
		end.out = out
	case errors.As(err, &re) && re.Status == 503 && time.Since(cl.started) < busyBudget:
		// The server is busy (its render queue is full): waited out, not
		// counted as an attempt.
		q.finish(wctx, job, cl, itemEnd{status: Pending})
		q.met.snooze("busy")
		return river.JobSnooze(250*time.Millisecond + rand.N(time.Second))
	default:
		end.status, end.err = Failed, err.Error()
		if re != nil {
			end.logs = re.Logs
		}
		transient := re == nil || re.Status >= 500
		if transient && end.attempts < 1+cl.spec.MaxRetry && job.Attempt < job.MaxAttempts {
			// Tried again by River (retryPolicy), on any replica.
			end.status = Pending
			if ok, ferr := q.finish(wctx, job, cl, end); ferr != nil || !ok {
				return ferr
			}
			q.met.retry()
			q.met.item("retried", secs)
			return err
		}
	}
	if _, err := q.finish(wctx, job, cl, end); err != nil {
		return err
	}
	q.met.item(end.status, secs)
	return nil
}

// itemEnd is how a run ended.
type itemEnd struct {
	status   string // ok, error; pending: back to the queue
	attempts int
	seconds  float64
	err      string
	logs     string
	out      Output
	key      string // out.Body is also the object of this key (ResultStore)
}

// finish writes an item's end under its lease, and (unless the item goes
// back to the queue) completes its River job in the same transaction, so
// that an item is counted exactly once. The job is done once no item is
// pending or running. false: the lease was lost (cancelled, deleted, taken
// over), nothing was written.
func (q *Queue) finish(ctx context.Context, job *river.Job[itemArgs], cl claim, e itemEnd) (bool, error) {
	a := job.Args
	written, keyKept := false, false
	if e.key != "" {
		defer func() {
			if !keyKept {
				if err := q.opt.Results.Delete(ctx, e.key); err != nil {
					q.log.Warn("jobs: a result not kept was not deleted from S3", "job", a.JobID, "item", a.Index, "error", err.Error())
				}
			}
		}()
	}
	// The job's row is not locked until the end: ends of one job's items do
	// not wait for each other (the item's row, under its lease, is what
	// counts). The results' bound is checked against the job's results when
	// the item was claimed, so items running together may pass it by their
	// own sizes (max_workers of them at most).
	body, key := e.out.Body, e.key
	ct, cache, logs := e.out.ContentType, e.out.Cache, e.out.Logs
	if e.status != OK {
		body, key, ct, cache, logs = nil, "", "", "", e.logs
	} else if cl.resultBytes+int64(len(body)) > q.opt.MaxResultBytes {
		e.status, e.err = Failed, fmt.Sprintf("413: the job's results are over %d MiB (limits.max_job_result_mb): this item's %d bytes are not kept",
			q.opt.MaxResultBytes>>20, len(body))
		body, key, ct = nil, "", ""
	}
	size, inline := int64(len(body)), body
	if key != "" {
		inline = nil
	}
	attempts := e.attempts
	if e.status == Pending && e.attempts == 0 {
		attempts = cl.attempts // given back: this run does not count
	}
	at := now()
	args := []any{a.JobID, a.Index, cl.lease, e.status, attempts, e.seconds, e.err, logs, ct, cache, size, inline, q.ts(at), key}
	const setItem = `UPDATE job_items SET status = $4, attempts = $5, seconds = $6, error = $7, logs = $8, content_type = $9,
		cache = $10, size = $11, result = $12, result_key = $14, updated_at = $13, instance = CASE WHEN $4 = 'pending' THEN '' ELSE instance END
		WHERE job_id = $1 AND idx = $2 AND lease = $3 AND status = 'running'`
	var err error
	if q.dialect == store.Postgres {
		// One statement, one round trip: the item's end under its lease;
		// then, if it was written and the item does not go back to the
		// queue, its River job completed (what river.JobCompleteTx writes:
		// completed, if still running) and the job's results grown, the
		// job done if no other item is open (this statement's snapshot
		// still sees its own item running, hence idx <> $2).
		var n int
		err = q.b.db().queryRow(ctx, `WITH item AS (`+setItem+` RETURNING 1),
			rj AS (UPDATE river_job SET state = 'completed', finalized_at = $16
				WHERE id = $15 AND state = 'running' AND $4 <> 'pending' AND EXISTS (SELECT 1 FROM item) RETURNING 1),
			job AS (UPDATE jobs SET result_bytes = result_bytes + $11,
				state = CASE WHEN state = 'running' AND NOT EXISTS (SELECT 1 FROM job_items WHERE job_id = $1 AND idx <> $2 AND status IN ('pending', 'running')) THEN 'done' ELSE state END,
				finished_at = CASE WHEN state = 'running' AND NOT EXISTS (SELECT 1 FROM job_items WHERE job_id = $1 AND idx <> $2 AND status IN ('pending', 'running')) THEN $13 ELSE finished_at END
				WHERE id = $1 AND $4 <> 'pending' AND EXISTS (SELECT 1 FROM item) RETURNING 1)
			SELECT COUNT(*) FROM item`, append(args, job.ID, at)...).Scan(&n)
		if err == nil && n > 0 {
			written, keyKept = true, key != ""
		}
	} else {
		err = q.b.inTx(ctx, func(c conn, rt riverTx) error {
			n, err := c.exec(ctx, setItem, args...)
			if err != nil || n == 0 {
				return err
			}
			written, keyKept = true, key != ""
			if e.status == Pending {
				return nil
			}
			if _, err := rt.complete(ctx, job); err != nil {
				return err
			}
			// Last, one statement: the job's results grow, and it is done
			// if none of its items is open; its row stays locked from here
			// to the commit only.
			_, err = c.exec(ctx, `UPDATE jobs SET result_bytes = result_bytes + $3,
				state = CASE WHEN state = 'running' AND NOT EXISTS (SELECT 1 FROM job_items WHERE job_id = $1 AND status IN ('pending', 'running')) THEN 'done' ELSE state END,
				finished_at = CASE WHEN state = 'running' AND NOT EXISTS (SELECT 1 FROM job_items WHERE job_id = $1 AND status IN ('pending', 'running')) THEN $2 ELSE finished_at END
				WHERE id = $1`, a.JobID, q.ts(at), size)
			return err
		})
	}
	if err != nil {
		q.log.Error("jobs: an item's end was not written", "job", a.JobID, "item", a.Index, "error", err.Error())
		return false, fmt.Errorf("writing item %d of job %s: %w", a.Index, a.JobID, err)
	}
	return written, nil
}

// maybeDone marks a running job done when none of its items is pending or
// running. Items ending together on different replicas may each see the
// other still running: the job is then marked done by the next read of its
// status, or by the background sweep (doneSweep).
func (q *Queue) maybeDone(ctx context.Context, c conn, id string, at any) error {
	_, err := c.exec(ctx, `UPDATE jobs SET state = 'done', finished_at = $2 WHERE id = $1 AND state = 'running'
		AND NOT EXISTS (SELECT 1 FROM job_items WHERE job_id = $1 AND status IN ('pending', 'running'))`, id, at)
	return err
}

// doneSweep marks done the running jobs none of whose items is open.
func (q *Queue) doneSweep(ctx context.Context) {
	_, err := q.b.db().exec(ctx, `UPDATE jobs SET state = 'done', finished_at = $1 WHERE state = 'running'
		AND NOT EXISTS (SELECT 1 FROM job_items WHERE job_id = jobs.id AND status IN ('pending', 'running'))`, q.ts(now()))
	if err != nil && ctx.Err() == nil {
		q.log.Warn("jobs: marking ended jobs done", "error", err.Error())
	}
}

// track notes a run of this process, for the watch of its lease.
func (q *Queue) track(k itemKey, lease int64, cancel context.CancelFunc) *runningItem {
	ri := &runningItem{lease: lease, since: time.Now(), cancel: cancel}
	q.mu.Lock()
	q.running[k] = ri
	q.mu.Unlock()
	return ri
}

func (q *Queue) untrack(k itemKey, ri *runningItem) {
	q.mu.Lock()
	if q.running[k] == ri {
		delete(q.running, k)
	}
	q.mu.Unlock()
}

// background keeps the heartbeat, watches the leases of the runs of this
// process (a cancelled or taken-over item's run is abandoned within a
// moment), takes over the items of replicas that died and removes expired
// jobs, until ctx ends.
func (q *Queue) background(ctx context.Context) {
	defer close(q.bgDone)
	beat := max(100*time.Millisecond, q.opt.RescueAfter/5)
	rescueEvery := max(200*time.Millisecond, q.opt.RescueAfter/3)
	tick := time.NewTicker(min(250*time.Millisecond, beat))
	defer tick.Stop()
	var lastBeat, lastRescue, lastRepair, lastSweep time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-tick.C:
			if t.Sub(lastBeat) >= beat {
				if err := q.heartbeat(ctx, false); err != nil && ctx.Err() == nil {
					q.log.Warn("jobs: heartbeat", "error", err.Error())
				}
				lastBeat = t
			}
			q.watch(ctx)
			if t.Sub(lastRescue) >= rescueEvery {
				q.rescue(ctx)
				q.doneSweep(ctx)
				lastRescue = t
			}
			if t.Sub(lastRepair) >= 30*time.Second {
				q.repair(ctx)
				lastRepair = t
			}
			if t.Sub(lastSweep) >= q.opt.SweepEvery {
				q.sweep(ctx)
				lastSweep = t
			}
		}
	}
}

// heartbeat says this process is alive.
func (q *Queue) heartbeat(ctx context.Context, first bool) error {
	at := q.ts(now())
	_, err := q.b.db().exec(ctx, `INSERT INTO job_replicas (instance, replica, started_at, seen_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (instance) DO UPDATE SET seen_at = excluded.seen_at`, q.instance, q.replica, at)
	if err == nil && first {
		// Heartbeats of processes gone for a day are forgotten.
		_, err = q.b.db().exec(ctx, `DELETE FROM job_replicas WHERE seen_at < $1`, q.ts(now().Add(-24*time.Hour)))
	}
	return err
}

// watch abandons the runs whose item is no longer this process's under the
// lease it claimed: cancelled, deleted, or taken over.
func (q *Queue) watch(ctx context.Context) {
	q.mu.Lock()
	n := len(q.running)
	q.mu.Unlock()
	if n == 0 {
		return
	}
	asked := time.Now()
	r, err := q.b.db().query(ctx, `SELECT job_id, idx, lease FROM job_items WHERE instance = $1 AND status = 'running'`, q.instance)
	if err != nil {
		return
	}
	held := map[itemKey]int64{}
	for r.Next() {
		var k itemKey
		var lease int64
		if r.Scan(&k.job, &k.idx, &lease) == nil {
			held[k] = lease
		}
	}
	r.Close()
	if r.Err() != nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, ri := range q.running {
		if ri.since.Before(asked) && held[k] != ri.lease && !ri.lost.Load() {
			ri.lost.Store(true)
			ri.cancel()
		}
	}
}

// rescue gives the items running on processes whose heartbeat stopped back
// to the queue: each gets a new River job (its old one, still "running" in
// River, ends without running it when River rescues it in turn).
func (q *Queue) rescue(ctx context.Context) {
	r, err := q.b.db().query(ctx, `SELECT i.job_id, i.idx, i.lease FROM job_items i WHERE i.status = 'running' AND i.instance <> ''
		AND NOT EXISTS (SELECT 1 FROM job_replicas r WHERE r.instance = i.instance AND r.seen_at > $1) LIMIT 500`,
		q.ts(now().Add(-q.opt.RescueAfter)))
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("jobs: looking for items of replicas that died", "error", err.Error())
		}
		return
	}
	type lost struct {
		k     itemKey
		lease int64
	}
	var found []lost
	for r.Next() {
		var l lost
		if r.Scan(&l.k.job, &l.k.idx, &l.lease) == nil {
			found = append(found, l)
		}
	}
	r.Close()
	// Items whose River job was fetched by a process that stopped before it
	// claimed them: their River job is "running", they are still pending.
	cut := "r.attempted_at < $1"
	if q.dialect == "sqlite" {
		cut = "julianday(r.attempted_at) < julianday($1)"
	}
	r, err = q.b.db().query(ctx, `SELECT i.job_id, i.idx, i.lease FROM river_job r JOIN job_items i ON i.river_id = r.id
		WHERE r.state = 'running' AND r.kind = '`+ItemKind+`' AND `+cut+` AND i.status = 'pending' LIMIT 500`,
		q.ts(now().Add(-q.opt.RescueAfter)))
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("jobs: looking for items of replicas that died", "error", err.Error())
		}
		return
	}
	for r.Next() {
		var l lost
		if r.Scan(&l.k.job, &l.k.idx, &l.lease) == nil {
			found = append(found, l)
		}
	}
	r.Close()
	for _, l := range found {
		if err := q.requeue(ctx, l.k, l.lease, "its replica stopped"); err != nil && ctx.Err() == nil {
			q.log.Warn("jobs: an item of a replica that died was not queued again", "job", l.k.job, "item", l.k.idx, "error", err.Error())
		}
	}
}

// repair queues again the items still pending or running whose River job
// is gone or ended without them (a River job discarded after too many
// attempts, or removed by hand): nothing would run them otherwise.
func (q *Queue) repair(ctx context.Context) {
	r, err := q.b.db().query(ctx, `SELECT i.job_id, i.idx, i.lease FROM job_items i LEFT JOIN river_job r ON r.id = i.river_id
		WHERE i.status IN ('pending', 'running') AND i.updated_at < $1
		AND (r.id IS NULL OR r.state IN ('completed', 'discarded', 'cancelled')) LIMIT 500`,
		q.ts(now().Add(-max(time.Minute, 2*q.opt.RescueAfter))))
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("jobs: looking for items the queue lost", "error", err.Error())
		}
		return
	}
	type lost struct {
		k     itemKey
		lease int64
	}
	var found []lost
	for r.Next() {
		var l lost
		if r.Scan(&l.k.job, &l.k.idx, &l.lease) == nil {
			found = append(found, l)
		}
	}
	r.Close()
	for _, l := range found {
		if err := q.requeue(ctx, l.k, l.lease, "its queue entry was lost"); err != nil && ctx.Err() == nil {
			q.log.Warn("jobs: a lost item was not queued again", "job", l.k.job, "item", l.k.idx, "error", err.Error())
		}
	}
}

// requeue gives an item back to the queue under a new lease and River job,
// if it still has the lease it was found with; after maxRescues it ends in
// error instead.
func (q *Queue) requeue(ctx context.Context, k itemKey, lease int64, why string) error {
	return q.b.inTx(ctx, func(c conn, rt riverTx) error {
		var state, specJSON string
		err := c.queryRow(ctx, `SELECT state, spec FROM jobs WHERE id = $1`+q.b.forUpdate(), k.job).Scan(&state, &specJSON)
		if noRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		var rescues int
		var status string
		err = c.queryRow(ctx, `SELECT rescues, status FROM job_items WHERE job_id = $1 AND idx = $2 AND lease = $3`, k.job, k.idx, lease).Scan(&rescues, &status)
		if noRows(err) || (err == nil && status != Pending && status != Running) {
			return nil
		}
		if err != nil {
			return err
		}
		at := q.ts(now())
		if rescues >= maxRescues || state != JobRunning {
			msg := fmt.Sprintf("500: not run: the item was interrupted %d times (%s)", rescues+1, why)
			if _, err := c.exec(ctx, `UPDATE job_items SET status = 'error', error = $4, lease = lease + 1, instance = '', updated_at = $5
				WHERE job_id = $1 AND idx = $2 AND lease = $3`, k.job, k.idx, lease, msg, at); err != nil {
				return err
			}
			return q.maybeDone(ctx, c, k.job, at)
		}
		var spec Spec
		if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
			return err
		}
		ids, err := rt.insert(ctx, []river.InsertManyParams{{Args: itemArgs{JobID: k.job, Index: k.idx}, InsertOpts: q.insertOpts(spec)}})
		if err != nil {
			return err
		}
		if _, err := c.exec(ctx, `UPDATE job_items SET status = 'pending', lease = lease + 1, instance = '', river_id = $4,
			rescues = rescues + 1, updated_at = $5 WHERE job_id = $1 AND idx = $2 AND lease = $3`, k.job, k.idx, lease, ids[0], at); err != nil {
			return err
		}
		q.met.rescued()
		q.log.Info("jobs: an item is queued again", "job", k.job, "item", k.idx, "why", why)
		return nil
	})
}

// sweep removes the jobs ended longer than the time to live ago, their
// items with them.
func (q *Queue) sweep(ctx context.Context) {
	at := q.ts(now().Add(-q.opt.TTL))
	for {
		r, err := q.b.dbw().query(ctx, `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state <> 'running' AND finished_at < $1 LIMIT 100) RETURNING id`, at)
		var ids []string
		if err == nil {
			for r.Next() {
				var id string
				if err = r.Scan(&id); err != nil {
					break
				}
				ids = append(ids, id)
			}
			r.Close()
			if err == nil {
				err = r.Err()
			}
		}
		// The objects of their large results go after their rows.
		q.removeResults(ctx, ids...)
		if err != nil {
			if ctx.Err() == nil {
				q.log.Warn("jobs: removing expired jobs", "error", err.Error())
			}
			return
		}
		if len(ids) == 0 {
			return
		}
	}
}
