package cli

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/udftiles/udftiles/demo"
	"github.com/udftiles/udftiles/vector"
)

func demoData(args []string) error {
	fs := flag.NewFlagSet("demo-data", flag.ContinueOnError)
	out := fs.String("out", "data/demo", "folder to write into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	files, err := demo.Write(*out)
	for _, f := range files {
		fmt.Println("wrote", f)
	}
	if err != nil {
		return err
	}
	// The Natural Earth layers again as GeoParquet, as `tileserver ingest` writes it.
	for _, name := range []string{"countries.gpkg", "cities.fgb"} {
		src := filepath.Join(*out, name)
		dst := strings.TrimSuffix(src, filepath.Ext(src)) + ".parquet"
		if _, err := vector.Ingest(context.Background(), src, dst, vector.IngestOptions{}); err != nil {
			return err
		}
		fmt.Println("wrote", dst)
	}
	fmt.Printf("demo data ready in %s (%.1fs)\n", *out, time.Since(start).Seconds())
	return nil
}
