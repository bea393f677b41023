package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udftiles/udftiles/internal/pgtest"
)

// BenchmarkJobsQueue measures batch jobs on each backend (bench/jobs.sh runs
// it, `make bench-jobs`): the in-process runner of a server without a store
// (jobs in files), the queue on the embedded SQLite store, and the queue on
// PostgreSQL with one and three replicas. For each: items/s of a job of
// short items (a Python UDF sleeping 20 ms; python.workers 4 a replica,
// max_workers 12), and the wall time per item of a job of an empty UDF
// against the same items as direct runs (GET .../run, 12 at a time): the
// queue's overhead per item. It writes a Markdown table to
// $BENCH_JOBS_OUT (default bench/results/jobs_queue.md) and logs it.
//
//	go test ./e2e/ -run '^$' -bench BenchmarkJobsQueue -benchtime 1x
func BenchmarkJobsQueue(b *testing.B) {
	bin := benchBinary(b)
	dir := b.TempDir()
	udfs := map[string]string{
		"sleepy.py": "import time\n\n@fused.udf\ndef udf(i: int = 0, pause: float = 0.02):\n    time.sleep(pause)\n    return {\"i\": i}\n",
		"noop.py":   "@fused.udf\ndef udf(i: int = 0):\n    return {\"i\": i}\n",
	}
	for f, code := range udfs {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(code), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	items := envInt("ITEMS_QUEUE", 600)
	noop := envInt("NOOP_QUEUE", 600)
	const maxWorkers = 12
	config := func(store, replica string) string {
		return fmt.Sprintf(`cache: {memory_mb: 64}
store: {url: %q}
python: {workers: 4, timeout: 30s, preload: [], cache_dir: %s}
server: {jobs_dir: %s, replica: %s, jobs_workers: 12}
udfs:
  - {name: sleepy, handler: python, path: %s}
  - {name: noop, handler: python, path: %s}
`, store, filepath.Join(dir, "pycache-"+replica), filepath.Join(dir, "jobs-"+replica), replica,
			filepath.Join(dir, "sleepy.py"), filepath.Join(dir, "noop.py"))
	}
	pg := pgtest.Start(b)
	type row struct {
		name          string
		itemsPerSec   float64
		jobPerItem    float64 // ms
		directPerItem float64 // ms
		single        float64 // ms: one item's job, submit to done
	}
	var rows []row
	offset := 0
	only := os.Getenv("QUEUE_BACKENDS") // e.g. "files,pg1": a subset of files, sqlite, pg1, pg3
	for _, c := range []struct {
		key, name string
		store     func() string
		replicas  int
	}{
		{"files", "in-process runner (no store, jobs in files)", func() string { return "none" }, 1},
		{"sqlite", "queue, SQLite store, 1 replica", func() string { return "sqlite://" + filepath.Join(dir, "bench.db") }, 1},
		{"pg1", "queue, PostgreSQL, 1 replica", func() string { return pg.NewDatabase(b) }, 1},
		{"pg3", "queue, PostgreSQL, 3 replicas", func() string { return pg.NewDatabase(b) }, 3},
	} {
		if only != "" && !slices.Contains(strings.Split(only, ","), c.key) {
			continue
		}
		storeURL := c.store()
		var bases []string
		for i := 0; i < c.replicas; i++ {
			bases = append(bases, benchServer(b, bin, dir, config(storeURL, fmt.Sprintf("r%d-%d", len(rows), i))))
		}
		// Warm the Python workers of every replica.
		for _, base := range bases {
			for i := 0; i < 8; i++ {
				benchGet(b, fmt.Sprintf("%s/v1/udfs/noop/run?i=%d&cache=false", base, -1-i), "")
			}
		}
		r := row{name: c.name}
		offset += 10000
		start := time.Now()
		benchJob(b, bases, "sleepy", offset, items, maxWorkers)
		r.itemsPerSec = float64(items) / time.Since(start).Seconds()

		offset += 10000
		start = time.Now()
		benchJob(b, bases, "noop", offset, noop, maxWorkers)
		r.jobPerItem = float64(time.Since(start).Microseconds()) / 1000 / float64(noop)

		offset += 10000
		start = time.Now()
		var wg sync.WaitGroup
		next := make(chan int, noop)
		for i := 0; i < noop; i++ {
			next <- offset + i
		}
		close(next)
		for w := 0; w < maxWorkers; w++ {
			wg.Add(1)
			go func(base string) {
				defer wg.Done()
				for i := range next {
					benchGet(b, fmt.Sprintf("%s/v1/udfs/noop/run?i=%d", base, i), "miss")
				}
			}(bases[w%len(bases)])
		}
		wg.Wait()
		r.directPerItem = float64(time.Since(start).Microseconds()) / 1000 / float64(noop)

		var singles []float64
		for k := 0; k < 10; k++ {
			offset++
			start = time.Now()
			benchJob(b, bases, "noop", offset, 1, 1)
			singles = append(singles, float64(time.Since(start).Microseconds())/1000)
		}
		r.single = median(singles)
		rows = append(rows, r)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "# Batch jobs: the queue against the in-process runner\n\n%s, `go test ./e2e/ -bench BenchmarkJobsQueue` (bench/jobs.sh), on 127.0.0.1.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&sb, "python.workers 4 and server.jobs_workers 12 a replica; max_workers %d. Items/s: %d items of a UDF sleeping 20 ms. "+
		"Per item: %d items of an empty UDF, as one job, against as many direct runs (GET .../run, %d at a time, over the replicas); "+
		"one item: a job of one item from submit to its status done (median of 10, status polled every 10 ms).\n\n", maxWorkers, items, noop, maxWorkers)
	sb.WriteString("| backend | items/s (20 ms items) | empty UDF: job, per item | direct runs, per item | overhead per item | a one-item job |\n")
	sb.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %.0f | %.2f ms | %.2f ms | %+.2f ms | %.0f ms |\n", r.name, r.itemsPerSec, r.jobPerItem, r.directPerItem,
			r.jobPerItem-r.directPerItem, r.single)
	}
	out := os.Getenv("BENCH_JOBS_OUT")
	if out == "" {
		out = "../bench/results/jobs_queue.md"
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
		os.WriteFile(out, []byte(sb.String()), 0o644)
	}
	b.Logf("\n%s", sb.String())
	fmt.Print(sb.String())
}

// benchJob submits n items (i = from, from+1, …) of udf to the first of
// bases and polls the status on all of them in turn until the job is done.
func benchJob(b *testing.B, bases []string, udf string, from, n, maxWorkers int) {
	args := make([]string, n)
	for i := range args {
		args[i] = fmt.Sprint(from + i)
	}
	body := fmt.Sprintf(`{"arg_list": [%s], "max_workers": %d}`, strings.Join(args, ","), maxWorkers)
	resp, err := http.Post(bases[0]+"/v1/udfs/"+udf+"/submit", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	var acc struct{ ID string }
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 || json.Unmarshal(raw, &acc) != nil {
		b.Fatalf("submit: %d %s", resp.StatusCode, raw)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for k := 0; ; k++ {
		resp, err := http.Get(bases[k%len(bases)] + "/v1/jobs/" + acc.ID)
		if err != nil {
			b.Fatal(err)
		}
		var st map[string]any
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st["state"] != "running" {
			if st["ok"] != float64(n) {
				resp, err := http.Get(bases[0] + "/v1/jobs/" + acc.ID + "/results")
				var res []byte
				if err == nil {
					res, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				b.Fatalf("job %s: %v\n%.600s", acc.ID, st, res)
			}
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("job %s still running: %v", acc.ID, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err == nil && v > 0 {
		return v
	}
	return def
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
