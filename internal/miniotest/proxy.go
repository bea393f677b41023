package miniotest

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dialTimeout bounds the proxy's connection to its target.
const dialTimeout = 5 * time.Second

// Proxy is a TCP proxy on 127.0.0.1 in front of a target address, for
// injecting latency and outages between a client and a server (typically a
// MinIO [Server]). It is closed in t.Cleanup.
type Proxy struct {
	Addr   string // "127.0.0.1:PORT", where the proxy listens
	Target string // where it forwards to

	t        testing.TB
	ln       net.Listener
	latency  atomic.Int64 // time.Duration
	accepted atomic.Int64
	rejected atomic.Int64
	cut      atomic.Int64
	dialErrs atomic.Int64

	mu     sync.Mutex
	down   bool
	closed bool
	links  map[*link]struct{}
	wg     sync.WaitGroup
}

// ProxyStats counts a proxy's connections since it was created.
type ProxyStats struct {
	Accepted   int64 // connections accepted while up, and forwarded (or tried to be)
	Rejected   int64 // connections accepted while down, and closed at once
	Cut        int64 // open connections closed by SetDown(true)
	DialFailed int64 // forwarded connections whose target could not be reached
	Active     int   // connections open now
}

// NewProxy listens on a free 127.0.0.1 port and forwards each connection to
// target ("host:port"), which is dialled anew for every connection.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("miniotest: proxy: %v", err)
	}
	p := &Proxy{
		Addr:   ln.Addr().String(),
		Target: target,
		t:      t,
		ln:     ln,
		links:  map[*link]struct{}{},
	}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// URL is "http://" + Addr, an endpoint for an S3 client ([Server.ClientAt]).
func (p *Proxy) URL() string { return "http://" + p.Addr }

// SetLatency delays everything the target sends: each chunk of bytes read from
// the target is written to the client d after it reached the proxy. Chunks are
// pipelined, so throughput is unchanged and a response is late by d as a
// whole, not by d per read; bytes from the client are forwarded at once. Every
// request/response exchange through the proxy (an S3 GET or PUT) therefore
// takes at least d longer, on new and kept-alive connections alike. The new
// latency applies to bytes read after the call; 0 removes it.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetDown takes the proxy down or brings it back up. While down, new
// connections are accepted and closed at once (the client sees its connection
// closed or reset, not refused: the port stays open), and going down cuts
// every open connection.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	var open []*link
	if down {
		for l := range p.links {
			open = append(open, l)
			delete(p.links, l)
		}
	}
	p.mu.Unlock()
	for _, l := range open {
		l.close()
	}
	p.cut.Add(int64(len(open)))
}

// Stats returns the proxy's connection counters.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	active := len(p.links)
	p.mu.Unlock()
	return ProxyStats{
		Accepted:   p.accepted.Load(),
		Rejected:   p.rejected.Load(),
		Cut:        p.cut.Load(),
		DialFailed: p.dialErrs.Load(),
		Active:     active,
	}
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines to end. It is called by t.Cleanup and may be called earlier.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	var open []*link
	for l := range p.links {
		open = append(open, l)
		delete(p.links, l)
	}
	p.mu.Unlock()
	p.ln.Close()
	for _, l := range open {
		l.close()
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("miniotest: proxy %s: goroutines still running 10s after Close", p.Addr)
	}
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. too many open files
			continue
		}
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			c.Close()
			return
		case p.down:
			p.mu.Unlock()
			p.rejected.Add(1)
			c.Close()
			continue
		}
		l := &link{client: c, done: make(chan struct{})}
		p.links[l] = struct{}{}
		p.accepted.Add(1)
		p.wg.Add(1)
		p.mu.Unlock()
		go p.handle(l)
	}
}

func (p *Proxy) handle(l *link) {
	defer p.wg.Done()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	up, err := net.DialTimeout("tcp", p.Target, dialTimeout)
	if err != nil {
		p.dialErrs.Add(1)
		return
	}
	if !l.setUpstream(up) {
		return // cut while dialling
	}
	noDelay := func() time.Duration { return 0 }
	withLatency := func() time.Duration { return time.Duration(p.latency.Load()) }
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.pump(l, l.client, up, noDelay)
	}()
	p.pump(l, up, l.client, withLatency)
	wg.Wait()
}

type chunk struct {
	b   []byte
	due time.Time
}

// pump copies src to dst, holding each chunk until delay() after it was read.
// At EOF it half-closes dst, so that the other direction can finish; on any
// error it closes the whole link.
func (p *Proxy) pump(l *link, src, dst net.Conn, delay func() time.Duration) {
	ch := make(chan chunk, 64)
	var readErr error
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(ch)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				c := chunk{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(delay())}
				select {
				case ch <- c:
				case <-l.done:
					return
				}
			}
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	for c := range ch {
		if wait := time.Until(c.due); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-l.done:
				timer.Stop()
				for range ch { // let the reader finish
				}
				return
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			l.close()
			for range ch {
			}
			return
		}
	}
	// ch is closed: readErr was written before.
	if errors.Is(readErr, io.EOF) {
		if tc, ok := dst.(*net.TCPConn); ok && tc.CloseWrite() == nil {
			return
		}
	}
	l.close()
}

// link is one proxied connection: the client's and the one to the target.
type link struct {
	client net.Conn
	done   chan struct{} // closed by close

	mu       sync.Mutex
	upstream net.Conn
	closed   bool
}

// setUpstream records the connection to the target, or closes it and reports
// false if the link was closed meanwhile.
func (l *link) setUpstream(up net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		up.Close()
		return false
	}
	l.upstream = up
	return true
}

func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	l.client.Close()
	if l.upstream != nil {
		l.upstream.Close()
	}
}
