package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/udftiles/udftiles"
	"github.com/udftiles/udftiles/cache"
	"github.com/udftiles/udftiles/cog"
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/udfhost"
	"github.com/udftiles/udftiles/web"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file (default: the embedded demo config)")
	listen := fs.String("listen", "", "address to listen on, overriding server.listen")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	c, err := cache.New(int64(cfg.Cache.MemoryMB) << 20)
	if err != nil {
		return err
	}
	defer c.Close()
	reg := buildRegistry(cfg)
	for _, l := range reg.List() {
		if err := l.Status(); err != nil {
			log.Warn("UDF unavailable; serving the others", "udf", l.Name, "error", err.Error(),
				"hint", "run `tileserver demo-data` for the demo files")
		}
	}
	srv := &http.Server{
		Addr: cfg.Server.Listen,
		Handler: web.New(web.Deps{Registry: reg, Cache: c, PublicURL: cfg.Server.PublicURL,
			CORSOrigins: cfg.Server.CORSOrigins, Logger: log, Version: version}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving", "listen", cfg.Server.Listen, "udfs", len(reg.List()), "version", version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse(udftiles.DefaultConfig, "")
	}
	return config.Load(path)
}

// buildRegistry turns config entries into layers; a layer that cannot be built is
// registered with its error so that /v1/udfs shows it.
func buildRegistry(cfg *config.Config) *udfhost.Registry {
	reg := udfhost.NewRegistry()
	for _, u := range cfg.UDFs {
		l := &udfhost.Layer{Name: u.Name, Kind: u.Handler, Description: u.Description,
			MaxAge: cfg.Cache.DefaultMaxAge.Std(), Defaults: url.Values{}}
		if u.CacheMaxAge != nil {
			l.MaxAge = u.CacheMaxAge.Std()
		}
		if u.Colormap != "" {
			l.Defaults.Set("colormap", u.Colormap)
		}
		for _, r := range u.Rescale {
			l.Defaults.Add("rescale", strconv.FormatFloat(r[0], 'g', -1, 64)+","+strconv.FormatFloat(r[1], 'g', -1, 64))
		}
		switch u.Handler {
		case "cog":
			l.Handler = cog.New(cog.Options{Path: u.Path, Bands: u.Bands, NoData: u.NoData,
				Resampling: u.Resampling, MinZoom: u.MinZoom, MaxZoom: u.MaxZoom})
		default:
			l.Err = fmt.Errorf("handler %q is not available in this build", u.Handler)
		}
		reg.Add(l)
	}
	return reg
}
