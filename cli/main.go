// Package cli is the tileserver command line as a function, so that a program
// of your own can be the server with kinds of layer of its own compiled in:
//
//	func main() {
//		os.Exit(cli.Main(os.Args[1:], cli.WithKind("mine", newMine)))
//	}
//
// It parses flags, reads the config and wires the packages together; the
// work is theirs. cmd/tileserver is exactly this, without extra kinds.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/udftiles/udftiles/gohandler"
	"github.com/udftiles/udftiles/layer"
)

// Option changes how Main runs.
type Option func(*settings)

type settings struct {
	version    string
	goHandlers gohandler.Factories
	kinds      map[string]layer.Factory // kinds added with WithKind
	stdout     io.Writer
	stderr     io.Writer
}

// WithVersion sets the version that `version`, /healthz and the logs report.
func WithVersion(v string) Option { return func(s *settings) { s.version = v } }

// WithGoHandler compiles a Go handler into the server under name, for config
// entries {handler: go, go: name, options: {...}}. It replaces a built-in
// handler of the same name.
func WithGoHandler(name string, f gohandler.Factory) Option {
	return func(s *settings) { s.goHandlers[name] = f }
}

// WithKind adds a kind of layer: config entries {handler: kind, path: ...,
// options: {...}} are built by f. It replaces a built-in kind of that name.
func WithKind(kind string, f layer.Factory) Option {
	return func(s *settings) { s.kinds[kind] = f }
}

const usage = `tileserver: UDFs, COGs and vector files as XYZ tiles

Usage:
  tileserver serve [--config FILE] [--listen ADDR]   serve tiles (default config: the demo)
  tileserver demo-data [--out DIR]                   write the demo data (default data/demo)
  tileserver ingest SRC DST.parquet                  a vector file to GeoParquet for fast tiles
  tileserver cache purge --udf NAME [--bbox ...]     remove cached results from the S3 tier
  tileserver export --udf NAME --minzoom A --maxzoom B --out DEST   prerender tiles (dir, mbtiles, pmtiles, s3)
  tileserver run NAME [--param k=v] [--tile z/x/y]   run a layer of a running server once
  tileserver submit NAME --args FILE [--param k=v]   run it once per item, as a job (fused.submit)
  tileserver hash-token [--new] [--name N] [--admin] the SHA-256 of a bearer token, for auth.bearer
  tileserver version                                 print the version

Run "tileserver COMMAND -h" for a command's flags.
`

// Main runs the tileserver command line with args (os.Args[1:]) and returns the
// exit status: 0 done, 1 failed, 2 a usage error.
func Main(args []string, opts ...Option) int {
	s := &settings{version: "dev", goHandlers: gohandler.Builtin(), kinds: map[string]layer.Factory{}, stdout: os.Stdout, stderr: os.Stderr}
	for _, o := range opts {
		o(s)
	}
	if len(args) < 1 {
		fmt.Fprint(s.stderr, usage)
		return 2
	}
	var err error
	switch cmd, args := args[0], args[1:]; cmd {
	case "serve":
		err = serve(args, s)
	case "demo-data":
		err = demoData(args)
	case "ingest":
		err = ingest(args, s)
	case "cache":
		err = cacheCmd(args, s)
	case "export":
		err = exportCmd(args, s)
	case "hash-token":
		err = hashToken(args, s, stdin)
	case "run":
		err = runCmd(args, s)
	case "submit":
		err = submitCmd(args, s)

	case "version", "--version":
		fmt.Fprintln(s.stdout, "tileserver", s.version)
	case "help", "-h", "--help":
		fmt.Fprint(s.stdout, usage)
	default:
		fmt.Fprintf(s.stderr, "tileserver: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(s.stderr, "tileserver:", err)
		return 1
	}
	return 0
}
