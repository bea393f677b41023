package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/udftiles/udftiles/internal/pgtest"
)

// replicaUDF sleeps a little and answers its index.
const replicaUDF = `import time

@fused.udf
def udf(i: int = 0, pause: float = 0.03):
    time.sleep(pause)
    return {"i": i}
`

// replicaConfig is a replica's config on the store at storeURL.
func replicaConfig(t *testing.T, storeURL, name string) string {
	t.Helper()
	return replicaConfigS3(t, storeURL, name, "")
}

// replicaConfigS3 is replicaConfig with more config text (an S3 tier, tokens).
func replicaConfigS3(t *testing.T, storeURL, name, extra string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sleepy.py"), []byte(replicaUDF), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if !strings.Contains(extra, "cache:") {
		extra += "cache: {memory_mb: 16}\n"
	}
	body := fmt.Sprintf(`store: {url: %q}
python: {workers: 2, timeout: 20s, preload: [], cache_dir: pycache}
server: {replica: %s, jobs_workers: 4, jobs_rescue_after: 3s}
%sudfs:
  - {name: sleepy, handler: python, path: sleepy.py}
`, storeURL, name, extra)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// jobRows are a job's results with the replica of each item.
type jobRows struct {
	Results []struct {
		Index   int            `json:"index"`
		Status  string         `json:"status"`
		Replica string         `json:"replica"`
		Result  map[string]any `json:"result"`
	} `json:"results"`
	Status map[string]any `json:"status"`
}

func (s *tileServer) jobRows(t *testing.T, id string) (jobRows, string) {
	t.Helper()
	code, body := s.call(t, "GET", "/v1/jobs/"+id+"/results?replica=true", "", "")
	var rows jobRows
	if code != 200 || json.Unmarshal([]byte(body), &rows) != nil {
		t.Fatalf("%s: results of %s: %d %.300s", s.name, id, code, body)
	}
	return rows, body
}

func (s *tileServer) jobStatus(t *testing.T, id string) map[string]any {
	t.Helper()
	code, body := s.call(t, "GET", "/v1/jobs/"+id, "", "")
	var st map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("%s: status of %s: %d %.300s", s.name, id, code, body)
	}
	return st
}

// testJobsOnReplicas submits 300 items to the first of the servers and
// checks that every replica runs some, that all answer alike, and (with
// kill) that the job still ends with each item once after the last replica
// is SIGKILLed in the middle of it.
func testJobsOnReplicas(t *testing.T, servers []*tileServer, kill bool) {
	const n = 300
	start := time.Now()
	args := make([]string, n)
	for i := range args {
		args[i] = fmt.Sprint(i)
	}
	code, body := servers[0].call(t, "POST", "/v1/udfs/sleepy/submit", "",
		`{"arg_list": [`+strings.Join(args, ",")+`], "params": {"pause": 0.04}, "max_workers": 9}`)
	if code != 202 {
		t.Fatalf("submit: %d %s", code, body)
	}
	var acc struct{ ID string }
	json.Unmarshal([]byte(body), &acc)
	id := acc.ID

	live := servers
	if kill {
		victim := servers[len(servers)-1]
		live = servers[:len(servers)-1]
		// SIGKILL it once a good part of the job is done and it runs items.
		deadline := time.Now().Add(60 * time.Second)
		for {
			rows, _ := live[0].jobRows(t, id)
			ok, itsRunning := 0, 0
			for _, r := range rows.Results {
				if r.Status == "ok" {
					ok++
				}
				if r.Status == "running" && r.Replica == victim.name {
					itsRunning++
				}
			}
			if ok >= n/5 && itsRunning > 0 {
				t.Logf("SIGKILL %s at %d/%d ok, %d items running on it (%v in)", victim.name, ok, n, itsRunning, time.Since(start).Round(time.Millisecond))
				break
			}
			if ok == n || time.Now().After(deadline) {
				t.Fatalf("no moment to kill %s: %d ok, %d running on it", victim.name, ok, itsRunning)
			}
			time.Sleep(30 * time.Millisecond)
		}
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.done
		victim.cmd = nil
	}

	// The job ends: every live replica says so.
	deadline := time.Now().Add(90 * time.Second)
	for servers[0].jobStatus(t, id)["state"] == "running" {
		if time.Now().After(deadline) {
			if dumpQueue != nil {
				dumpQueue(id)
			}
			t.Fatalf("the job is still running after 90s: %v", servers[0].jobStatus(t, id))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	first, firstBody := live[0].jobRows(t, id)
	firstStatus := live[0].jobStatus(t, id)
	if firstStatus["state"] != "done" || firstStatus["ok"] != float64(n) || firstStatus["total"] != float64(n) {
		t.Errorf("status: %v", firstStatus)
	}
	for _, s := range live[1:] {
		if _, b := s.jobRows(t, id); b != firstBody {
			t.Errorf("%s's results differ from %s's", s.name, live[0].name)
		}
		st := s.jobStatus(t, id)
		a, _ := json.Marshal(st)
		b, _ := json.Marshal(firstStatus)
		if string(a) != string(b) {
			t.Errorf("%s's status differs: %s vs %s", s.name, a, b)
		}
	}
	// Each item exactly once, with its own result.
	seen := map[int]bool{}
	by := map[string]int{}
	for _, r := range first.Results {
		if seen[r.Index] {
			t.Errorf("item %d twice", r.Index)
		}
		seen[r.Index] = true
		if r.Status != "ok" || r.Result["i"] != float64(r.Index) {
			t.Errorf("item %d: %s %v", r.Index, r.Status, r.Result)
		}
		by[r.Replica]++
	}
	if len(first.Results) != n || len(seen) != n {
		t.Errorf("%d results, %d distinct indices, want %d", len(first.Results), len(seen), n)
	}
	t.Logf("%d items in %v; by replica: %v", n, took.Round(time.Millisecond), by)
	for _, s := range servers {
		if by[s.name] == 0 {
			t.Errorf("replica %s ran no item: %v", s.name, by)
		}
	}
	if kill {
		rescued := 0.0
		for _, s := range live {
			rescued += s.metric("udftiles_job_items_rescued_total")
		}
		if rescued == 0 {
			t.Errorf("no item was taken over from the killed replica")
		}
		t.Logf("%v items taken over from the killed replica", rescued)
	}
	// The logs of the job, from any replica: a line per item.
	code, logs := live[len(live)-1].call(t, "GET", "/v1/jobs/"+id+"/logs", "", "")
	if lines := strings.Count(logs, "\n"); code != 200 || lines < n {
		t.Errorf("logs: %d, %d lines", code, lines)
	}
}

// TestJobsReplicasPostgres: three replicas of the server share a PostgreSQL
// store; a job submitted to one runs on all three, each answers for it, and
// one SIGKILLed in the middle of it loses no item and runs none twice.
func TestJobsReplicasPostgres(t *testing.T) {
	sharedBinary(t)
	url := pgtest.Start(t).NewDatabase(t)
	m := startMinIO(t)
	bin, _ := sharedBinary(t)
	editor := "replica-editor-token"
	extra := fmt.Sprintf(`auth:
  bearer:
    - {name: ed, sha256: %s, role: editor}
admin_token: %s
cache:
  memory_mb: 16
  s3: {bucket: %s, prefix: replicas, endpoint: %q, access_key: %q, secret_key: %q, read_timeout: 0.3s}
`, hashOf(t, bin, editor), adminToken, s3Bucket, m.Endpoint, m.AccessKey, m.SecretKey)
	var cfgs []string
	for _, name := range []string{"A", "B", "C"} {
		cfgs = append(cfgs, replicaConfigS3(t, url, name, extra))
	}
	servers := startServers(t, cfgs...)
	replicasFollow(t, servers, editor)
	// A job that does not end: its open items and their River jobs in the log.
	dumpQueue = func(id string) {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Log(err)
			return
		}
		rows, _ := conn.Query(context.Background(), `SELECT i.idx, i.status, i.lease, i.instance, i.river_id, r.state, r.attempt, r.queue, r.scheduled_at, r.attempted_by FROM job_items i LEFT JOIN river_job r ON r.id = i.river_id WHERE i.job_id = $1 AND i.status <> 'ok'`, id)
		for rows.Next() {
			vals, _ := rows.Values()
			t.Logf("open item [idx status lease instance river_id | River: state attempt queue scheduled_at attempted_by]: %v", vals)
		}
		rows.Close()
		defer conn.Close(context.Background())
		rows, _ = conn.Query(context.Background(), `SELECT state, queue, count(*) FROM river_job GROUP BY state, queue`)
		for rows.Next() {
			vals, _ := rows.Values()
			t.Logf("River jobs [state queue count]: %v", vals)
		}
	}
	testJobsOnReplicas(t, servers, true)
}

// replicasFollow: a UDF saved on the first replica is served by the others
// within a second, and a purge on the first makes the others miss (their
// memory tiers dropped, the shared S3 tier purged) within a second.
func replicasFollow(t *testing.T, servers []*tileServer, editor string) {
	t.Helper()
	a, others := servers[0], servers[1:]
	code := `import fused

@fused.udf
def udf(v: int = 1):
    return {"v": v}
`
	body, _ := json.Marshal(map[string]any{"code": code, "public": true})
	if st, b := a.call(t, "PUT", "/v1/udfs/saved", editor, string(body)); st != 201 {
		t.Fatalf("save on %s: %d %s", a.name, st, b)
	}
	for _, s := range others {
		took := within(t, time.Second, s.name+" serves the save", func() bool {
			st, _ := s.call(t, "GET", "/v1/udfs/saved/run?v=7", "", "")
			return st == 200
		})
		t.Logf("a save on %s was served by %s after %v", a.name, s.name, took.Round(time.Millisecond))
	}
	// Cached everywhere (memory), then purged on A: B and C miss.
	get := func(s *tileServer) string {
		r := s.do("GET", "/v1/udfs/saved/run?v=7", nil, 30*time.Second)
		if r.err != nil || r.status != 200 {
			t.Fatalf("%s: %v %d", s.name, r.err, r.status)
		}
		return r.xcache()
	}
	for _, s := range servers {
		get(s)
		if x := get(s); x != "memory" {
			t.Fatalf("%s's second answer: X-Cache %q, want memory", s.name, x)
		}
	}
	if st, b := a.call(t, "DELETE", "/v1/udfs/saved/cache", adminToken, ""); st != 200 {
		t.Fatalf("purge on %s: %d %s", a.name, st, b)
	}
	for _, s := range others {
		took := within(t, time.Second, s.name+" misses after the purge", func() bool { return get(s) == "miss" })
		t.Logf("a purge on %s reached %s after %v", a.name, s.name, took.Round(time.Millisecond))
	}
}

// TestJobsReplicasSQLite: the same on the embedded store, one replica.
func TestJobsReplicasSQLite(t *testing.T) {
	sharedBinary(t)
	url := "sqlite://" + filepath.Join(t.TempDir(), "udftiles.db")
	servers := startServers(t, replicaConfig(t, url, "A"))
	testJobsOnReplicas(t, servers, false)
}

// dumpQueue logs the open items of a job that did not end (set by tests on
// PostgreSQL).
var dumpQueue func(id string)
