package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/udftiles/udftiles/export"
	"github.com/udftiles/udftiles/tiles"
)

const exportUsage = `Usage:
  tileserver export --udf NAME (--bbox xmin,ymin,xmax,ymax | --area FILE.geojson) --minzoom A --maxzoom B
                    [--format png|mvt|...] [--param k=v ...] --out DIR | FILE.mbtiles | FILE.pmtiles | s3://bucket/prefix
                    [--config FILE] [--concurrency N] [--shard i/n] [--keep-empty]
  tileserver export merge --out FILE.mbtiles|FILE.pmtiles|DIR PART...

Prerenders a layer's tiles with the server's own pipeline. Running the same
command again continues an interrupted export. --shard i/n renders every n-th
tile, so n processes (0/n ... n-1/n) share the work; their archives are joined
with "export merge", S3 and directory exports need no merge.
`

// multiFlag collects repeated --param k=v.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func exportCmd(args []string, s *settings) error {
	if len(args) > 0 && args[0] == "merge" {
		return mergeCmd(args[1:], s)
	}
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	fs.Usage = func() { fmt.Fprint(s.stderr, exportUsage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "", "config file (default: the embedded demo config)")
	udf := fs.String("udf", "", "the layer to export")
	bbox := fs.String("bbox", "", "the area, xmin,ymin,xmax,ymax in lon/lat (default: the layer's bounds)")
	area := fs.String("area", "", "the area as GeoJSON polygons: tiles meeting none are not rendered")
	minZoom := fs.Int("minzoom", -1, "first zoom")
	maxZoom := fs.Int("maxzoom", -1, "last zoom")
	format := fs.String("format", "", "tile format (default: the layer's)")
	var params multiFlag
	fs.Var(&params, "param", "a layer parameter k=v (repeatable)")
	out := fs.String("out", "", "destination: a directory, FILE.mbtiles, FILE.pmtiles or s3://bucket/prefix")
	conc := fs.Int("concurrency", 0, "tiles rendered at once (default: 2 per CPU)")
	shard := fs.String("shard", "", "i/n: render every n-th tile, starting at the i-th (0-based)")
	keepEmpty := fs.Bool("keep-empty", false, "store empty tiles too")
	quiet := fs.Bool("quiet", false, "no progress")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 || *udf == "" || *out == "" || *minZoom < 0 || *maxZoom < 0 {
		fmt.Fprintln(s.stderr, "export: --udf, --minzoom, --maxzoom and --out are required")
		fs.Usage()
		return errUsage
	}
	if *bbox != "" && *area != "" {
		return fmt.Errorf("export: --bbox and --area: give one")
	}
	o := export.Options{UDF: *udf, MinZoom: *minZoom, MaxZoom: *maxZoom, Format: *format, Dest: *out,
		Concurrency: *conc, KeepEmpty: *keepEmpty, Params: url.Values{}}
	if o.Concurrency == 0 {
		o.Concurrency = 2 * runtime.NumCPU()
	}
	if !*quiet {
		o.Progress = s.stderr
	}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return fmt.Errorf("export: --param %q: want k=v", p)
		}
		o.Params.Add(k, v)
	}
	if *shard != "" {
		i, n, err := export.ParseShard(*shard)
		if err != nil {
			return fmt.Errorf("export: %v", err)
		}
		o.Shard, o.Shards = i, n
	}
	switch {
	case *area != "":
		a, err := export.ReadArea(*area)
		if err != nil {
			return fmt.Errorf("export: --area: %v", err)
		}
		o.Area = a
	case *bbox != "":
		b, err := tiles.ParseBounds(*bbox)
		if err != nil {
			return fmt.Errorf("export: --bbox: %v", err)
		}
		o.Area.BBox = b
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	// An export's live heap is small and its garbage large (a tile's buffers,
	// thousands of times): collecting a fifth as often costs a little memory
	// and saves a tenth of the time. GOGC, when set, decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	log := slog.New(slog.NewTextHandler(s.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := newStack(cfg, s, log)
	if err != nil {
		return err
	}
	defer st.Close()
	l, ok := st.reg.Get(*udf)
	if !ok {
		return fmt.Errorf("export: no UDF named %q in the config", *udf)
	}
	if o.Area.BBox == (tiles.Bounds{}) {
		o.Area.BBox = l.Handler.Schema().Bounds
	}
	o.Service = st.svc
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := export.Run(ctx, o)
	if sum.Tiles > 0 {
		fmt.Fprintln(s.stdout, sum.String())
	}
	if err != nil {
		return fmt.Errorf("export: %v", err)
	}
	fmt.Fprintf(s.stdout, "wrote %s\n", *out)
	return nil
}

func mergeCmd(args []string, s *settings) error {
	fs := flag.NewFlagSet("export merge", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	fs.Usage = func() { fmt.Fprint(s.stderr, exportUsage); fs.PrintDefaults() }
	out := fs.String("out", "", "the merged archive or directory")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *out == "" || fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	start := time.Now()
	st, err := export.Merge(*out, fs.Args(), export.Metadata{})
	if err != nil {
		return fmt.Errorf("export merge: %v", err)
	}
	fmt.Fprintf(s.stdout, "merged %d parts into %s: %d tiles stored (%d duplicates), %.1fs\n", fs.NArg(), *out, st.Unique+st.Duplicates, st.Duplicates, time.Since(start).Seconds())
	return nil
}
