package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/udftiles/udftiles/progress"
	"github.com/udftiles/udftiles/vector"
)

const ingestUsage = `Usage: tileserver ingest [--layer NAME] [--row-group-size N] SRC DST.parquet

Converts a vector file GDAL reads (GeoPackage, FlatGeobuf, Shapefile, GeoJSON,
...) into a GeoParquet file the vector handler serves fast: lon/lat, sorted
along a Hilbert curve, with a bbox covering column and row groups sized for tiles.
`

func ingest(args []string, s *settings) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	fs.Usage = func() { fmt.Fprint(s.stderr, ingestUsage); fs.PrintDefaults() }
	layer := fs.String("layer", "", "the source's layer (default: its first)")
	rows := fs.Int("row-group-size", vector.DefaultRowGroup, "rows per row group")
	quiet := fs.Bool("quiet", false, "no progress")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errUsage
	}
	src, dst := fs.Arg(0), fs.Arg(1)
	if ext := strings.ToLower(dst[strings.LastIndexByte(dst, '.')+1:]); !strings.Contains(dst, ".") || ext != "parquet" && ext != "geoparquet" {
		return fmt.Errorf("ingest: %s: the destination must end in .parquet", dst)
	}
	if *rows < 1 || *rows > 1<<22 {
		return fmt.Errorf("ingest: --row-group-size %d: want 1 to %d", *rows, 1<<22)
	}
	if _, err := os.Stat(src); err != nil && !strings.HasPrefix(src, "/vsi") {
		return fmt.Errorf("ingest: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := vector.IngestOptions{Layer: *layer, RowGroupSize: *rows}
	if !*quiet {
		o.Progress = s.stderr
	}
	st, err := vector.Ingest(ctx, src, dst, o)
	if err != nil {
		return fmt.Errorf("ingest: %v", err)
	}
	fmt.Fprintf(s.stdout, "wrote %s: %s features (%d repaired, %d skipped) in %d row groups, %s bytes, %.1fs\n",
		dst, progress.Count(int64(st.Features)), st.Repaired, st.Skipped, st.RowGroups, progress.Count(st.Bytes), st.Elapsed.Seconds())
	return nil
}

// errUsage is a usage error whose message was printed already.
var errUsage = errors.New("usage")
