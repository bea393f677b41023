package web

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// countConn counts the writes to a connection, and fails them once told to.
type countConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
	fail   bool
	closed bool
}

func (c *countConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	fail := c.fail
	c.mu.Unlock()
	if fail {
		return 0, errors.New("write refused by the test")
	}
	return c.Conn.Write(p)
}

func (c *countConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *countConn) state() (writes int, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.closed
}

type countListener struct {
	net.Listener
	conns chan *countConn
}

func (l countListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countConn{Conn: c}
	l.conns <- cc
	return cc, nil
}

// gatherServer serves /?n=N (N bytes of body, through WriteWhole) on
// 127.0.0.1, its listener wrapped by Listener when gather; it returns the
// address and the server side of the connections it accepts.
func gatherServer(t *testing.T, gather bool) (string, chan *countConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *countConn, 8)
	var l net.Listener = countListener{ln, conns}
	if gather {
		l = Listener(l)
	}
	srv := &http.Server{ConnContext: ConnContext, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			body := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
			h := w.Header()
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Length", strconv.Itoa(n))
			h.Set("X-Filler", string(bytes.Repeat([]byte("x"), 500)))
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusOK)
				return
			}
			WriteWhole(w, r, http.StatusOK, body)
		})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), conns
}

// ask sends one request on c and reads its answer: the body must be n bytes
// of the pattern.
func ask(t *testing.T, c net.Conn, rd *bufio.Reader, method string, n int) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "%s /?n=%d HTTP/1.1\r\nHost: test\r\n\r\n", method, n); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(rd, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %d: %v", method, n, err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("%s %d: reading the body: %v", method, n, err)
	}
	want := n
	if method == http.MethodHead {
		want = 0
	}
	if res.StatusCode != 200 || len(body) != want || res.ContentLength != int64(n) ||
		!bytes.Equal(body, bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:want]) {
		t.Fatalf("%s %d: status %d, %d bytes, Content-Length %d", method, n, res.StatusCode, len(body), res.ContentLength)
	}
}

// TestGatheredResponses: a whole response leaves in one write to the socket
// on Listener's connections (two without it, for a body past net/http's 4 KiB
// buffer), keep-alive goes on, and large bodies and HEAD are answered whole.
func TestGatheredResponses(t *testing.T) {
	for _, gather := range []bool{false, true} {
		addr, conns := gatherServer(t, gather)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rd := bufio.NewReader(c)
		var sc *countConn
		for i, n := range []int{20000, 100, 4096, 60000, 1 << 20, 0, 20000} {
			before := 0
			if sc != nil {
				before, _ = sc.state()
			}
			ask(t, c, rd, http.MethodGet, n)
			if sc == nil {
				sc = <-conns
			}
			writes, _ := sc.state()
			writes -= before
			switch {
			case gather && n <= maxGather && writes != 1:
				t.Errorf("gathering, request %d (%d bytes): %d writes to the socket, want 1", i, n, writes)
			case !gather && n == 20000 && writes < 2:
				t.Errorf("without gathering, %d bytes took %d writes; the test expects net/http's 4 KiB buffer to split it", n, writes)
			}
		}
		ask(t, c, rd, http.MethodHead, 20000)
	}
}

// TestGatherFailedWrite: when the one write fails, the connection is closed
// and nothing else is written to it.
func TestGatherFailedWrite(t *testing.T) {
	addr, conns := gatherServer(t, true)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rd := bufio.NewReader(c)
	ask(t, c, rd, http.MethodGet, 20000)
	sc := <-conns
	sc.mu.Lock()
	sc.fail = true
	sc.mu.Unlock()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /?n=20000 HTTP/1.1\r\nHost: test\r\n\r\n")
	if b, err := io.ReadAll(rd); err != nil || len(b) != 0 {
		t.Fatalf("after a failed write the client read %d bytes, error %v; want the connection closed with nothing sent", len(b), err)
	}
	writes, closed := sc.state()
	if !closed || writes != 2 {
		t.Fatalf("server side: closed %v after %d writes; want closed after 2 (the answer before, the failed one)", closed, writes)
	}
}
