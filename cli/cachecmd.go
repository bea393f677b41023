package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/store"
	"github.com/udftiles/udftiles/web"
)

const cacheUsage = `Usage: tileserver cache purge [--config FILE] --udf NAME [--bbox xmin,ymin,xmax,ymax] [--minzoom N] [--maxzoom N]

Removes a layer's cached results from the S3 tier named in the config: all of
them, or the tiles that meet bbox (lon/lat) at those zooms. The memory tiers of
running servers keep theirs until they expire; DELETE /v1/udfs/NAME/cache on a
server purges both.
`

func cacheCmd(args []string, s *settings) error {
	if len(args) == 0 || args[0] != "purge" {
		fmt.Fprint(s.stderr, cacheUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("cache purge", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	fs.Usage = func() { fmt.Fprint(s.stderr, cacheUsage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "", "config file (default: the embedded demo config)")
	udf := fs.String("udf", "", "the layer whose results to remove")
	bbox := fs.String("bbox", "", "only tiles meeting xmin,ymin,xmax,ymax (lon/lat)")
	minZoom := fs.Int("minzoom", -1, "only tiles at this zoom or deeper")
	maxZoom := fs.Int("maxzoom", -1, "only tiles at this zoom or shallower")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *udf == "" {
		if err == nil {
			fs.Usage()
		}
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	s3c := cfg.Cache.S3
	if s3c.Bucket == "" {
		return fmt.Errorf("cache purge: the config sets no cache.s3.bucket, so there is no shared tier to purge; " +
			"a server's memory tier is purged with DELETE /v1/udfs/NAME/cache")
	}
	q := url.Values{}
	if *bbox != "" {
		q.Set("bbox", *bbox)
	}
	if *minZoom >= 0 {
		q.Set("minzoom", strconv.Itoa(*minZoom))
	}
	if *maxZoom >= 0 {
		q.Set("maxzoom", strconv.Itoa(*maxZoom))
	}
	sel, err := web.ParseSelection(q)
	if err != nil {
		return fmt.Errorf("cache purge: %v", err)
	}
	t, err := cache.NewS3(cache.S3Options{Bucket: s3c.Bucket, Prefix: s3c.Prefix, Endpoint: s3c.Endpoint, Region: s3c.Region,
		AccessKey: s3c.AccessKey, SecretKey: s3c.SecretKey, PathStyle: s3c.PathStyle,
		Logger: slog.New(slog.NewTextHandler(s.stderr, nil))})
	if err != nil {
		return fmt.Errorf("cache purge: %v", err)
	}
	defer t.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	start := time.Now()
	n, err := t.Purge(ctx, *udf, sel.Match())
	if err != nil {
		return fmt.Errorf("cache purge: %d objects removed, then: %v", n, err)
	}
	fmt.Fprintf(s.stdout, "removed %d cached results of %s (%s) from s3://%s/%s in %.1fs\n", n, *udf, sel, s3c.Bucket, s3c.Prefix, time.Since(start).Seconds())
	// Running replicas drop their memory copies when the store says so.
	if cfg.Store.URL != config.StoreOff {
		db, err := store.Open(ctx, cfg.Store.URL)
		if err != nil {
			return fmt.Errorf("cache purge: the servers' memory tiers were not told (store.url): %v", err)
		}
		defer db.Close()
		if _, err := db.Record(ctx, store.ChangePurge, *udf, sel.Query().Encode()); err != nil {
			return fmt.Errorf("cache purge: the servers' memory tiers were not told: %v", err)
		}
		fmt.Fprintf(s.stdout, "told the servers sharing the store to drop their memory copies\n")
	}
	return nil
}
