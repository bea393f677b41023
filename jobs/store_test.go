package jobs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logBuffer is a logger whose lines a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func mustNew(t *testing.T, dir string, run Runner, o Options) *Manager {
	t.Helper()
	m, err := New(dir, run, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func listDir(t *testing.T, dir string) []fs.DirEntry {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestOneFilePerJob: each job is one file named by its id, whatever its
// number of items; a directory of the older layout is ignored with one
// warning.
func TestOneFilePerJob(t *testing.T) {
	dir := t.TempDir()
	for _, old := range []string{"0123", "4567"} {
		os.MkdirAll(filepath.Join(dir, old, "items"), 0o700)
		os.WriteFile(filepath.Join(dir, old, "job.json"), []byte(`{"id":"`+old+`"}`), 0o600)
	}
	var logs logBuffer
	m := mustNew(t, dir, newFake().run, Options{Logger: logs.logger()})
	if n := strings.Count(logs.String(), "older layout"); n != 1 {
		t.Errorf("%d warnings about the older layout, want 1:\n%s", n, logs.String())
	}
	ids := map[string]bool{}
	for _, ns := range [][]int{{1}, {1, 2, 3, 4, 5, 6, 7, 8}, {13, 99}} {
		j, err := m.Submit(Spec{UDF: "sq", Items: items(ns...), MaxWorkers: 3})
		if err != nil {
			t.Fatal(err)
		}
		if ns[len(ns)-1] == 99 {
			time.Sleep(50 * time.Millisecond)
			j.Cancel()
		}
		waitJob(t, j)
		ids[j.ID+".job"] = true
	}
	var files []string
	for _, e := range listDir(t, dir) {
		if e.IsDir() {
			continue
		}
		files = append(files, e.Name())
		if !ids[e.Name()] || !e.Type().IsRegular() {
			t.Errorf("unexpected entry %s (%v)", e.Name(), e.Type())
		}
	}
	if len(files) != 3 {
		t.Errorf("files %v, want one per job (3)", files)
	}
}

// appendRaw appends bytes to a job's file as a crash would leave them.
func appendRaw(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestTornRecord: a record cut short by a crash (or damaged) is ignored: the
// job reads as its records before it say, and records appended after the
// restart are read back (the torn one was cut off).
func TestTornRecord(t *testing.T) {
	itemRec := func(t *testing.T) []byte {
		rec, err := encodeRecord(kindItem, itemRecord{Index: 0, Status: OK, CRC: 1}, []byte("a new result that was being written"))
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	for _, c := range []struct {
		name  string
		tear  func(t *testing.T, path string)
		state string // the job's state read back
	}{
		{"a few bytes of a frame", func(t *testing.T, p string) { appendRaw(t, p, []byte("uj\x49")) }, JobDone},
		{"a frame without its meta", func(t *testing.T, p string) { appendRaw(t, p, itemRec(t)[:frameLen+3]) }, JobDone},
		{"an item without all its result", func(t *testing.T, p string) { r := itemRec(t); appendRaw(t, p, r[:len(r)-4]) }, JobDone},
		{"a damaged meta", func(t *testing.T, p string) { r := itemRec(t); r[frameLen+2] ^= 0xff; appendRaw(t, p, r) }, JobDone},
		{"garbage", func(t *testing.T, p string) { appendRaw(t, p, bytes.Repeat([]byte{0}, 100)) }, JobDone},
		{"the last state cut", func(t *testing.T, p string) {
			info, _ := os.Stat(p)
			os.Truncate(p, info.Size()-5)
		}, JobFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			m := mustNew(t, dir, newFake().run, Options{})
			j, err := m.Submit(Spec{UDF: "sq", Items: items(3, 13, 4), MaxWorkers: 1})
			if err != nil {
				t.Fatal(err)
			}
			waitJob(t, j)
			path := filepath.Join(dir, j.ID+".job")
			c.tear(t, path)

			var logs logBuffer
			m2 := mustNew(t, dir, newFake().run, Options{Logger: logs.logger()})
			j2, ok := m2.Get(j.ID)
			if !ok {
				t.Fatalf("the job is unreadable after a torn record:\n%s", logs.String())
			}
			st := j2.Status()
			if st.State != c.state || st.OK != 2 || st.Failed != 1 {
				t.Fatalf("after the torn record: %+v, want %s with 2 ok and 1 error", st, c.state)
			}
			if b, err := j2.Result(0); err != nil || string(b) != "9" {
				t.Errorf("item 0 after the torn record: %q %v, want its first result", b, err)
			}
			if !strings.Contains(logs.String(), "damaged record") {
				t.Errorf("no warning about the torn record:\n%s", logs.String())
			}
			// A retry after the restart appends to the good log: a third
			// start-up reads it back, with no warning.
			if n, err := j2.Retry(); err != nil || n != 1 {
				t.Fatalf("retry: %d %v", n, err)
			}
			waitJob(t, j2)
			var logs3 logBuffer
			m3 := mustNew(t, dir, newFake().run, Options{Logger: logs3.logger()})
			j3, ok := m3.Get(j.ID)
			if !ok {
				t.Fatal("the retried job is unreadable")
			}
			if st := j3.Status(); st.State != JobDone || st.OK != 2 || st.Failed != 1 || j3.Items()[1].Attempts != 1 {
				t.Errorf("after the retry: %+v", st)
			}
			if strings.Contains(logs3.String(), "damaged") {
				t.Errorf("the log is damaged after the retry:\n%s", logs3.String())
			}
		})
	}
}

// countingFile counts the bytes read from job files.
type countingFile struct {
	*os.File
	n *atomic.Int64
}

func (f countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.n.Add(int64(n))
	return n, err
}

// TestOpenReadsHeadersOnly: start-up over 50 jobs holding 50 MiB of results
// reads their headers only (a few hundred bytes each), and keeps none of the
// results in memory; a job's first use reads its records but not its
// results; a result is read when asked for.
func TestOpenReadsHeadersOnly(t *testing.T) {
	const jobs, size = 50, 1 << 20
	dir := t.TempDir()
	big := func(ctx context.Context, udf string, p map[string]string, _ *Spec) (Output, error) {
		n, _ := strconv.Atoi(p["n"])
		return Output{Body: bytes.Repeat([]byte{byte('a' + n%26)}, size), ContentType: "application/octet-stream"}, nil
	}
	m := mustNew(t, dir, big, Options{MaxStored: jobs})
	var ids []string
	for i := 0; i < jobs; i++ {
		j, err := m.Submit(Spec{UDF: "big", Items: items(i)})
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, j)
		ids = append(ids, j.ID)
	}
	m.Close()
	m = nil

	var read atomic.Int64
	open := func(p string) (readFile, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		return countingFile{f, &read}, nil
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m2 := mustNew(t, dir, big, Options{open: open})
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := read.Load(); n > jobs*1024 {
		t.Errorf("start-up read %d bytes of %d jobs, want their headers only (< 1 KiB each)", n, jobs)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("start-up grew the heap by %d MiB, for %d MiB of results it must not load", grew>>20, jobs*size>>20)
	}
	read.Store(0)
	j, ok := m2.Get(ids[7])
	if !ok {
		t.Fatal("a job is missing after start-up")
	}
	if st := j.Status(); st.State != JobDone || st.OK != 1 {
		t.Errorf("status %+v", st)
	}
	if n := read.Load(); n > 64<<10 { // its records, and at most 4 KiB past each
		t.Errorf("a job's first use read %d bytes: its result too", n)
	}
	read.Store(0)
	b, err := j.Result(0)
	if err != nil || len(b) != size || b[0] != 'a'+7 {
		t.Errorf("result: %d bytes %v", len(b), err)
	}
	if n := read.Load(); n != size {
		t.Errorf("reading the result read %d bytes, want %d", n, size)
	}
	runtime.KeepAlive(m2)
}

// TestJobsExpire: a job ended longer than the time to live ago is removed,
// file and all, by the sweep, and at start-up; a running one is never.
func TestJobsExpire(t *testing.T) {
	const ttl = 300 * time.Millisecond
	dir := t.TempDir()
	m := mustNew(t, dir, newFake().run, Options{TTL: ttl, SweepEvery: 50 * time.Millisecond})
	done, _ := m.Submit(Spec{UDF: "sq", Items: items(1, 2)})
	slow, _ := m.Submit(Spec{UDF: "sq", Items: items(99)})
	waitJob(t, done)
	path := func(j *Job) string { return filepath.Join(dir, j.ID+".job") }
	gone := func(j *Job) bool {
		_, ok := m.Get(j.ID)
		_, err := os.Stat(path(j))
		return !ok && errors.Is(err, os.ErrNotExist)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !gone(done) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !gone(done) {
		t.Fatal("the ended job is still kept past its time to live")
	}
	if _, ok := m.Get(slow.ID); !ok {
		t.Fatal("the running job was removed")
	}
	slow.Cancel()
	waitJob(t, slow)
	for !gone(slow) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !gone(slow) {
		t.Error("the cancelled job is still kept past its time to live")
	}

	// At start-up: a job file last written long ago is removed unread.
	m2 := mustNew(t, dir, newFake().run, Options{TTL: time.Hour})
	old, _ := m2.Submit(Spec{UDF: "sq", Items: items(1)})
	fresh, _ := m2.Submit(Spec{UDF: "sq", Items: items(2)})
	waitJob(t, old)
	waitJob(t, fresh)
	long := time.Now().Add(-2 * time.Hour)
	os.Chtimes(path(old), long, long)
	m3 := mustNew(t, dir, newFake().run, Options{TTL: time.Hour})
	if _, ok := m3.Get(old.ID); ok {
		t.Error("an expired job was kept at start-up")
	}
	if _, err := os.Stat(path(old)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the expired job's file: %v", err)
	}
	if _, ok := m3.Get(fresh.ID); !ok {
		t.Error("a job within its time to live was removed at start-up")
	}
}

// TestResultBytesCap: the items past the job's result budget end in error
// with a 413, and keep nothing.
func TestResultBytesCap(t *testing.T) {
	m := mustNew(t, t.TempDir(), newFake().run, Options{MaxResultBytes: 10})
	j, _ := m.Submit(Spec{UDF: "sq", Items: items(40, 41, 42, 43), MaxWorkers: 1}) // 4 bytes each
	waitJob(t, j)
	st := j.Status()
	if st.OK != 2 || st.Failed != 2 {
		t.Fatalf("status %+v, want 2 ok within 10 bytes and 2 errors", st)
	}
	for _, it := range j.Items()[2:] {
		if !strings.HasPrefix(it.Error, "413:") || !strings.Contains(it.Error, "max_job_result_mb") || it.Size != 0 {
			t.Errorf("item past the budget: %+v", it)
		}
	}
}

// TestCancelledInFlightEndsCancelled: an item running when its job is
// cancelled ends cancelled even when the run gives an answer anyway.
func TestCancelledInFlightEndsCancelled(t *testing.T) {
	started := make(chan struct{}, 4)
	run := func(ctx context.Context, udf string, p map[string]string, _ *Spec) (Output, error) {
		started <- struct{}{}
		<-ctx.Done()
		return Output{Body: []byte("late"), ContentType: "text/plain"}, nil
	}
	m := mustNew(t, t.TempDir(), run, Options{})
	j, _ := m.Submit(Spec{UDF: "x", Items: items(1, 2, 3), MaxWorkers: 2})
	<-started
	<-started
	j.Cancel()
	waitJob(t, j)
	for _, it := range j.Items() {
		if it.Status != Cancelled {
			t.Errorf("item %d: %s, want cancelled", it.Index, it.Status)
		}
	}
}
