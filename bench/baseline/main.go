// Command baseline is the benchmark's reference point: a bare net/http server that answers
// every path with the same file's bytes as image/png, i.e. the fastest a Go server can hand
// out a tile it already holds in memory.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/udftiles/udftiles/web"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	file := flag.String("file", "", "file to serve (required)")
	dressed := flag.Bool("dressed", false, "answer with the headers of udftiles' cached tile (cache, security, request id) and its default server timeouts: what those cost, apart from udftiles' own code")
	gather := flag.Bool("gather", false, "write each response in one write to the socket, as udftiles writes a cached tile (web.Listener, web.WriteWhole): the bare server with that gain too")
	flag.Parse()
	if *file == "" {
		log.Fatal("baseline: -file is required")
	}
	body, err := os.ReadFile(*file)
	if err != nil {
		log.Fatal(err)
	}
	size := strconv.Itoa(len(body))
	send := func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }
	if *gather {
		send = func(w http.ResponseWriter, r *http.Request) { web.WriteWhole(w, r, http.StatusOK, body) }
	}
	srv := &http.Server{
		Addr: *listen,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", "image/png")
			h.Set("Content-Length", size)
			send(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if *dressed {
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		var n atomic.Uint64
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["Cache-Control"] = []string{"public, max-age=7775999"}
			h["Content-Length"] = []string{size}
			h["Content-Security-Policy"] = []string{"sandbox"}
			h["Content-Type"] = []string{"image/png"}
			h["Etag"] = []string{etag}
			h["X-Cache"] = []string{"memory"}
			h["X-Content-Type-Options"] = []string{"nosniff"}
			h["X-Request-Id"] = []string{strconv.FormatUint(0x9e3779b97f4a7c15*n.Add(1), 16)}
			send(w, r)
		})
		// udftiles' default server timeouts (config.Server): each request
		// sets a read and a write deadline.
		srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = 30*time.Second, 130*time.Second, 120*time.Second
	}
	if !*gather {
		log.Fatal(srv.ListenAndServe())
	}
	srv.ConnContext = web.ConnContext
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(srv.Serve(web.Listener(ln)))
}
