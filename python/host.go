package python

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/udftiles/udftiles/layer"
)

// Host answers what a UDF asks of the server during its call: a nested run
// through the tile service, storage through the server's own credentials.
// Workers hold no credentials: they ask.
type Host func(ctx context.Context, c HostCall) (HostAnswer, error)

// HostCall is one request of a UDF.
type HostCall struct {
	Op    string          // what is asked: run, storage, ...
	Args  json.RawMessage // its arguments
	Blob  []byte          // data sent with it (an upload)
	Depth int             // how deep in nested runs the call asking is
	Layer string          // the layer whose call asks
}

// HostAnswer is the server's answer to a HostCall.
type HostAnswer struct {
	Result any    // sent as JSON
	Blob   []byte // sent as bytes (a download)
}

// hostFunc answers the requests of one call, knowing the call.
type hostFunc struct {
	host  Host
	pool  *Pool
	depth int
	layer string
}

type hostAnswer struct {
	header map[string]any
	blobs  [][]byte
}

// kindNames name error kinds for the worker, which raises them as Python
// errors of the matching type.
var kindNames = map[layer.Kind]string{
	layer.BadRequest: "bad_request", layer.NotFound: "not_found", layer.Unauthorized: "unauthorized",
	layer.Forbidden: "forbidden", layer.TooLarge: "too_large", layer.Timeout: "timeout",
	layer.Unavailable: "unavailable", layer.TooMany: "too_many",
}

// answer runs one request. While the server works on it the asking worker
// waits, idle: the pool may start another worker meanwhile, so that a run
// nested in a call (or a job it waits for) never waits for the worker its
// caller holds.
func (h hostFunc) answer(ctx context.Context, w *worker, rep *reply) hostAnswer {
	out := hostAnswer{header: map[string]any{"op": "host_reply", "id": rep.ID, "hid": rep.Hid}}
	fail := func(err error) hostAnswer {
		out.header["ok"] = false
		out.header["error"] = err.Error()
		out.header["kind"] = kindNames[layer.KindOf(err)]
		return out
	}
	switch rep.Host {
	case "park", "unpark": // the UDF waits for the server by other means (HTTP)
		if h.pool != nil {
			w.setParked(rep.Host == "park", h.pool)
		}
		out.header["ok"] = true
		return out
	}
	if h.host == nil {
		out = fail(fmt.Errorf("this server answers no requests of UDFs (%s)", rep.Host))
		out.header["kind"] = "no_host" // a pool without a server: Python layers run in the worker
		return out
	}
	if h.pool != nil {
		h.pool.park(1)
		defer h.pool.park(-1)
	}
	var blob []byte
	if len(rep.blobs) > 0 {
		blob = rep.blobs[0]
	}
	hc := HostCall{Op: rep.Host, Args: rep.Args, Blob: blob, Depth: h.depth, Layer: h.layer}
	var ans HostAnswer
	var err error
	if rep.Timeout > 0 {
		ans, err = h.within(ctx, hc, time.Duration(rep.Timeout*float64(time.Second)))
	} else {
		ans, err = h.host(ctx, hc)
	}
	if err != nil {
		return fail(err)
	}
	out.header["ok"] = true
	out.header["result"] = ans.Result
	if ans.Blob != nil {
		out.blobs = [][]byte{ans.Blob}
	}
	return out
}

// within answers a request given d: past it the UDF is told so (kind
// "timeout") and no longer waits, while work the request started and
// shares with others (a render other callers wait for) goes on.
func (h hostFunc) within(ctx context.Context, c HostCall, d time.Duration) (HostAnswer, error) {
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type result struct {
		ans HostAnswer
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := h.host(tctx, c)
		done <- result{a, err}
	}()
	timedOut := func() error {
		return layer.Errorf(layer.Timeout, "%s: no answer within %s", c.Op, d)
	}
	select {
	case r := <-done:
		if ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
			return HostAnswer{}, timedOut() // answered, but past the bound
		}
		return r.ans, r.err
	case <-tctx.Done():
		if ctx.Err() != nil {
			return HostAnswer{}, ctx.Err()
		}
		return HostAnswer{}, timedOut()
	}
}
