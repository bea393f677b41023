// Command baseline is the benchmark's reference point: a bare net/http server that answers
// every path with the same file's bytes as image/png, i.e. the fastest a Go server can hand
// out a tile it already holds in memory.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	file := flag.String("file", "", "file to serve (required)")
	flag.Parse()
	if *file == "" {
		log.Fatal("baseline: -file is required")
	}
	body, err := os.ReadFile(*file)
	if err != nil {
		log.Fatal(err)
	}
	size := strconv.Itoa(len(body))
	srv := &http.Server{
		Addr: *listen,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h.Set("Content-Type", "image/png")
			h.Set("Content-Length", size)
			w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
