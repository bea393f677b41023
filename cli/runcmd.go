package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/udftiles/udftiles/progress"
)

const runUsage = `Usage: tileserver run NAME [--param k=v ...] [--tile z/x/y | --bbox xmin,ymin,xmax,ymax] [--format F] [--out FILE]

Runs a layer of a running server once (file mode, or one tile) and writes the
result to --out or standard output.

`

const submitUsage = `Usage: tileserver submit NAME --args FILE [--param k=v ...] [--max-workers N] [--max-retry N] [--out FILE]

Runs a layer of a running server once per item of --args, as a job of the
server (fused.submit): a JSON list (values of the layer's first parameter, or
objects of parameters) or a CSV file with a header row (one item per row).
Shows progress, and writes the results (json, csv or parquet by --out's
extension; standard output as JSON without --out). Interrupting it cancels
the job.

`

// remote is the server the run and submit commands talk to.
type remote struct {
	url, token string
	client     *http.Client
}

func remoteFlags(fs *flag.FlagSet) (*string, *string) {
	u := fs.String("url", envOr("UDFTILES_URL", "http://127.0.0.1:8080"), "the server (UDFTILES_URL)")
	t := fs.String("token", os.Getenv("UDFTILES_TOKEN"), "a bearer token (UDFTILES_TOKEN)")
	return u, t
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (r remote) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(r.url, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct{ Error, Logs string }
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		if e.Logs != "" {
			e.Error += "\n" + e.Logs
		}
		return nil, fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error)
	}
	return resp, nil
}

func (r remote) json(ctx context.Context, method, path string, body []byte, v any) error {
	resp, err := r.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func params(list []string) (url.Values, error) {
	q := url.Values{}
	for _, p := range list {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want k=v", p)
		}
		q.Add(k, v)
	}
	return q, nil
}

// runCmd serves `tileserver run`.
func runCmd(args []string, s *settings) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	fs.Usage = func() { fmt.Fprint(s.stderr, runUsage); fs.PrintDefaults() }
	u, tok := remoteFlags(fs)
	var ps multiFlag
	fs.Var(&ps, "param", "a parameter k=v (repeatable)")
	tile := fs.String("tile", "", "z/x/y: run for one tile")
	bbox := fs.String("bbox", "", "xmin,ymin,xmax,ymax in lon/lat (file mode)")
	format := fs.String("format", "", "the output format (default: the layer's)")
	out := fs.String("out", "", "write the result here (default: standard output)")
	name, rest := splitName(args)
	if err := fs.Parse(rest); err != nil || name == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	q, err := params(ps)
	if err != nil {
		return err
	}
	if *format != "" {
		q.Set("format", *format)
	}
	path := "/v1/udfs/" + url.PathEscape(name) + "/run"
	if *tile != "" {
		var z, x, y int
		if _, err := fmt.Sscanf(*tile, "%d/%d/%d", &z, &x, &y); err != nil {
			return fmt.Errorf("run: --tile %q: want z/x/y", *tile)
		}
		path = fmt.Sprintf("/v1/udfs/%s/tiles/%d/%d/%d", url.PathEscape(name), z, x, y)
	} else if *bbox != "" {
		q.Set("bounds", *bbox)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := remote{url: *u, token: *tok, client: &http.Client{}}
	resp, err := r.do(ctx, "GET", path, nil)
	if err != nil {
		return fmt.Errorf("run: %v", err)
	}
	defer resp.Body.Close()
	return writeOut(s, *out, resp.Body)
}

// splitName takes the first argument as the layer's name when it is not a flag.
func splitName(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func writeOut(s *settings, out string, body io.Reader) error {
	if out == "" || out == "-" {
		_, err := io.Copy(s.stdout, body)
		return err
	}
	tmp := out + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// submitCmd serves `tileserver submit`.
func submitCmd(args []string, s *settings) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	fs.Usage = func() { fmt.Fprint(s.stderr, submitUsage); fs.PrintDefaults() }
	u, tok := remoteFlags(fs)
	var ps multiFlag
	fs.Var(&ps, "param", "a parameter every item shares, k=v (repeatable)")
	argsFile := fs.String("args", "", "the items: a JSON list or a CSV file with a header")
	workers := fs.Int("max-workers", 16, "items run at once")
	retry := fs.Int("max-retry", 2, "retries of an item that fails for a reason that may pass")
	out := fs.String("out", "", "write the results here (.json, .csv or .parquet; default: JSON on standard output)")
	quiet := fs.Bool("quiet", false, "no progress")
	name, rest := splitName(args)
	if err := fs.Parse(rest); err != nil || name == "" || *argsFile == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	items, err := readArgs(*argsFile)
	if err != nil {
		return fmt.Errorf("submit: --args: %v", err)
	}
	q, err := params(ps)
	if err != nil {
		return err
	}
	shared := map[string]any{}
	for k := range q {
		shared[k] = q.Get(k)
	}
	body, _ := json.Marshal(map[string]any{"arg_list": items, "params": shared, "max_workers": *workers, "max_retry": *retry})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := remote{url: *u, token: *tok, client: &http.Client{}}
	var job struct{ ID string }
	if err := r.json(ctx, "POST", "/v1/udfs/"+url.PathEscape(name)+"/submit", body, &job); err != nil {
		return fmt.Errorf("submit: %v", err)
	}
	var w io.Writer
	if !*quiet {
		w = s.stderr
	}
	bar := progress.New(w, "job "+job.ID[:8]+" "+name, int64(len(items)))
	type status struct {
		State                       string
		Total, OK, Error, Cancelled int
		Running, Pending            int
	}
	var st status
	for {
		if err := r.json(context.Background(), "GET", "/v1/jobs/"+job.ID, nil, &st); err != nil {
			return fmt.Errorf("submit: %v", err)
		}
		bar.Set(int64(st.OK+st.Error+st.Cancelled), 0)
		if st.State != "running" {
			break
		}
		select {
		case <-ctx.Done():
			// Interrupted: the job is cancelled, not left running unseen.
			// (An anonymous job is cancelled by admins only, unless the
			// server sets auth.anonymous_job_control.)
			err := r.json(context.Background(), "DELETE", "/v1/jobs/"+job.ID, nil, &st)
			bar.Done()
			if err != nil {
				return fmt.Errorf("submit: interrupted; job %s is left running: the cancel was refused: %v", job.ID, err)
			}
			return fmt.Errorf("submit: interrupted; job %s cancelled", job.ID)
		case <-time.After(250 * time.Millisecond):
		}
	}
	bar.Done()
	format := "json"
	for _, f := range []string{"csv", "parquet"} {
		if strings.HasSuffix(strings.ToLower(*out), "."+f) {
			format = f
		}
	}
	resp, err := r.do(context.Background(), "GET", "/v1/jobs/"+job.ID+"/results?format="+format, nil)
	if err != nil {
		return fmt.Errorf("submit: %v", err)
	}
	defer resp.Body.Close()
	if err := writeOut(s, *out, resp.Body); err != nil {
		return err
	}
	fmt.Fprintf(s.stderr, "job %s %s: %d ok, %d failed, %d cancelled of %d\n", job.ID, st.State, st.OK, st.Error, st.Cancelled, st.Total)
	if st.Error > 0 {
		return fmt.Errorf("submit: %d items failed (their errors are in the results); `curl -X POST .../v1/jobs/%s/retry` reruns them", st.Error, job.ID)
	}
	return nil
}

// readArgs reads a JSON list or a CSV file with a header row.
func readArgs(path string) ([]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		var list []any
		if err := json.Unmarshal(t, &list); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		return list, nil
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: not a JSON list nor CSV: %v", path, err)
	}
	if len(rows) < 1 {
		return nil, errors.New(path + ": no header row")
	}
	out := make([]any, 0, len(rows)-1)
	for _, row := range rows[1:] {
		item := map[string]any{}
		for i, v := range row {
			if i < len(rows[0]) {
				item[rows[0][i]] = v
			}
		}
		out = append(out, item)
	}
	return out, nil
}
