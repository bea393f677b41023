package web

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// A response whose body the server already holds (a cached tile) leaves in
// one write: net/http writes the status line and headers through a 4 KiB
// buffer, so a 20 KiB tile took two writes to the socket, the first one
// 4 KiB; on loopback each is a system call, a TCP segment and a wake-up of
// the client, a fifth of a cached tile's CPU. Listener's connections can be
// held (gathering what is written) and released (one write) around such a
// response (WriteWhole); Server.ConnContext (ConnContext) lets the handler find its
// connection. Connections of other listeners (tests' httptest servers, TLS)
// write as before.

// Listener wraps l: its connections can gather a response (see ConnContext).
func Listener(l net.Listener) net.Listener { return gatherListener{l} }

// ConnContext is the http.Server's ConnContext for Listener's connections.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if g, ok := c.(*gatherConn); ok {
		return context.WithValue(ctx, gatherKey{}, g)
	}
	return ctx
}

type gatherKey struct{}

type gatherListener struct{ net.Listener }

func (l gatherListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gatherConn{Conn: c}, nil
}

// gatherConn is a connection that gathers writes between hold and release.
// Both are called by the goroutine serving the connection's request, the
// only one writing to it (net/http's HTTP/1 server).
type gatherConn struct {
	net.Conn
	held *[]byte // nil = writing through
	err  error   // the failed write of a release: every later write fails
}

// maxGather bounds the responses gathered: a larger body leaves as before
// (its writes are few next to its size).
const maxGather = 256 << 10

var gatherBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

func (c *gatherConn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.held != nil {
		*c.held = append(*c.held, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *gatherConn) hold() {
	if c.held == nil && c.err == nil {
		c.held = gatherBuffers.Get().(*[]byte)
	}
}

// release writes what was gathered. A failed write closes the connection
// (the server then reads no further request on it) and fails every later one.
func (c *gatherConn) release() {
	b := c.held
	if b == nil {
		return
	}
	c.held = nil
	if len(*b) > 0 {
		if _, err := c.Conn.Write(*b); err != nil {
			c.err = err
			c.Conn.Close()
		}
	}
	if cap(*b) <= maxGather+8<<10 {
		*b = (*b)[:0]
		gatherBuffers.Put(b)
	}
}

// WriteWhole writes a response's head (code, and the headers set on w)
// and its whole body: in one write to the socket when r came on a
// Listener's connection and the body is not large (bench/baseline's -gather
// server uses it too).
func WriteWhole(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	g, _ := r.Context().Value(gatherKey{}).(*gatherConn)
	if g == nil || len(body) > maxGather {
		w.WriteHeader(code)
		_, _ = w.Write(body)
		return
	}
	g.hold()
	defer g.release()
	w.WriteHeader(code)
	_, _ = w.Write(body)
	_ = http.NewResponseController(w).Flush()
}
