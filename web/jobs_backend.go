package web

import (
	"context"
	"time"

	"github.com/udftiles/udftiles/jobs"
)

// jobBackend is where jobs live: the store's queue (jobs.Queue), shared by
// every replica, or, without a store, the files of jobs.Manager.
type jobBackend interface {
	Submit(ctx context.Context, spec jobs.Spec) (jobHandle, error)
	// Get finds a job; an error is the backend's, not a missing job's.
	Get(ctx context.Context, id string) (jobHandle, bool, error)
	Delete(ctx context.Context, id string) error
	List(ctx context.Context, o jobs.ListOptions) ([]jobs.Status, string, error)
	TTL() time.Duration
}

// jobHandle is one job of a jobBackend.
type jobHandle interface {
	ID() string
	Owner() string
	UDF() string
	Status(ctx context.Context) (jobs.Status, error)
	Cancel(ctx context.Context) error
	Retry(ctx context.Context) (int, error)
	Wait(ctx context.Context) error
	Items(ctx context.Context) ([]jobs.Item, error)
	// Ended returns the items that ended since about since, with their
	// logs (a backend may return older ones too).
	Ended(ctx context.Context, since time.Time) ([]jobs.Item, error)
	Results(ctx context.Context, fn func(jobs.Item, []byte) error) error
}

// queueJobs is the store's queue.
type queueJobs struct{ q *jobs.Queue }

func (b queueJobs) Submit(ctx context.Context, spec jobs.Spec) (jobHandle, error) {
	j, err := b.q.Submit(ctx, spec)
	if err != nil {
		return nil, err
	}
	return j, nil
}

func (b queueJobs) Get(ctx context.Context, id string) (jobHandle, bool, error) {
	j, ok, err := b.q.Get(ctx, id)
	if !ok || err != nil {
		return nil, ok, err
	}
	return j, true, nil
}

func (b queueJobs) Delete(ctx context.Context, id string) error { return b.q.Delete(ctx, id) }
func (b queueJobs) List(ctx context.Context, o jobs.ListOptions) ([]jobs.Status, string, error) {
	return b.q.List(ctx, o)
}
func (b queueJobs) TTL() time.Duration { return b.q.TTL() }

// fileJobs are the jobs of a jobs directory, run by this process.
type fileJobs struct{ m *jobs.Manager }

func (b fileJobs) Submit(_ context.Context, spec jobs.Spec) (jobHandle, error) {
	j, err := b.m.Submit(spec)
	if err != nil {
		return nil, err
	}
	return fileJob{j}, nil
}

func (b fileJobs) Get(_ context.Context, id string) (jobHandle, bool, error) {
	j, ok := b.m.Get(id)
	if !ok {
		return nil, false, nil
	}
	return fileJob{j}, true, nil
}

func (b fileJobs) Delete(_ context.Context, id string) error { return b.m.Delete(id) }
func (b fileJobs) List(_ context.Context, o jobs.ListOptions) ([]jobs.Status, string, error) {
	list, next := b.m.List(o)
	return list, next, nil
}
func (b fileJobs) TTL() time.Duration { return b.m.TTL() }

type fileJob struct{ j *jobs.Job }

func (f fileJob) ID() string                                  { return f.j.ID }
func (f fileJob) Owner() string                               { return f.j.Owner() }
func (f fileJob) UDF() string                                 { return f.j.UDF() }
func (f fileJob) Status(context.Context) (jobs.Status, error) { return f.j.Status(), nil }
func (f fileJob) Cancel(context.Context) error                { f.j.Cancel(); return nil }
func (f fileJob) Retry(context.Context) (int, error)          { return f.j.Retry() }
func (f fileJob) Wait(ctx context.Context) error              { return f.j.Wait(ctx) }
func (f fileJob) Items(context.Context) ([]jobs.Item, error)  { return f.j.Items(), nil }
func (f fileJob) Results(_ context.Context, fn func(jobs.Item, []byte) error) error {
	return f.j.Results(fn)
}

// Ended returns every item that has ended: the file's jobs keep no times
// of their items.
func (f fileJob) Ended(context.Context, time.Time) ([]jobs.Item, error) {
	var out []jobs.Item
	for _, it := range f.j.Items() {
		if it.Status == jobs.OK || it.Status == jobs.Failed || it.Status == jobs.Cancelled {
			out = append(out, it)
		}
	}
	return out, nil
}
