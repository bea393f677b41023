# udftiles: `make run` serves the demo on :8080, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/tileserver
VENDOR := web/static/vendor/maplibre-gl.js web/static/vendor/maplibre-gl.css
# The pages' scripts, bundled by esbuild (npm run build in web/): the map page's
# from web/src/*.js, the Workbench's (with CodeMirror) from web/src/workbench/.
BUNDLE := web/static/app.js web/static/workbench.js
WEB_SRC := $(wildcard web/src/*.js)
WORKBENCH_SRC := $(wildcard web/src/workbench/*.js)
# npm's record of what web/node_modules holds, rewritten by every npm ci (make's or one's own).
NPM_DONE := web/node_modules/.package-lock.json

.PHONY: run test deps build web-assets web-test demo-data bench bench-vector bench-export bench-jobs bench-raster bench-mosaic load fuzz chaos lint clean

run: deps build demo-data
	UDFTILES_STORE_URL=$${UDFTILES_STORE_URL:-sqlite://data/udftiles.db} $(BIN) serve

deps:
	@scripts/deps.sh
	@$(GO) version >/dev/null 2>&1 || { echo "Go 1.24 or later is required (https://go.dev/dl/)"; exit 1; }

web-assets: $(VENDOR) $(BUNDLE)

$(NPM_DONE): web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund
	@touch $@

$(VENDOR): $(NPM_DONE)
	mkdir -p web/static/vendor
	cp web/node_modules/maplibre-gl/dist/maplibre-gl.js web/node_modules/maplibre-gl/dist/maplibre-gl.css web/static/vendor/

web/static/app.js: $(WEB_SRC) $(NPM_DONE)
	npm run --prefix web --silent build:app

web/static/workbench.js: $(WORKBENCH_SRC) $(WEB_SRC) $(NPM_DONE)
	npm run --prefix web --silent build:workbench

# Unit tests of the page's pure modules (node --test, no browser).
web-test:
	npm test --prefix web --silent

build: web-assets
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/tileserver

demo-data: build
	@[ -f data/demo/elevation.tif ] && [ -f data/demo/rgb.tif ] && [ -f data/demo/item.json ] && [ -f data/demo/dem_tiles/dem_r3_c3.tif ] && [ -f data/demo/countries.gpkg ] && [ -f data/demo/cities.fgb ] && [ -f data/demo/countries.parquet ] && [ -f data/demo/cities.parquet ] || $(BIN) demo-data --out data/demo

STATICCHECK := tools/staticcheck

$(STATICCHECK):
	GOBIN=$(CURDIR)/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/node_modules/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# MinIO for the S3 cache tests (a real server on 127.0.0.1), built once into tools/;
# the version is internal/miniotest.MinioVersion.
MINIO := tools/minio
MINIO_VERSION := $(shell sed -n 's/^[[:space:]]*MinioVersion *= *"\(.*\)"/\1/p' internal/miniotest/binary.go)

$(MINIO):
	GOBIN=$(CURDIR)/tools $(GO) install github.com/minio/minio@$(MINIO_VERSION)
	@touch $(MINIO)

# The pmtiles CLI checks the PMTiles archives exports write (pmtiles verify).
PMTILES := tools/pmtiles

$(PMTILES):
	mkdir -p tools/pmtiles-src
	cd tools/pmtiles-src && { [ -f go.mod ] || $(GO) mod init tools; } && \
	  $(GO) get -tool github.com/protomaps/go-pmtiles@v1.31.2 && $(GO) build -o ../pmtiles github.com/protomaps/go-pmtiles

test: deps web-assets web-test lint $(MINIO) $(PMTILES)
	$(GO) test -count=1 -timeout 40m ./...

bench: deps build
	bench/run.sh
	bench/vector.sh
	bench/export.sh
	bench/raster.sh
	bench/mosaic.sh

bench-raster:
	bench/raster.sh

bench-mosaic: deps
	bench/mosaic.sh

bench-export: deps build
	bench/export.sh

bench-vector: deps build
	bench/vector.sh

bench-jobs: deps build
	bench/jobs.sh

# 60 s of mixed load at 64 connections on loopback (bench/load.sh; DURATION, CONNECTIONS).
load: deps build demo-data
	bench/load.sh

# Every fuzz target for FUZZTIME each (default 30s); crashers land in testdata/fuzz.
fuzz: deps
	scripts/fuzz.sh

# The fault-injection suite in its long form (make test runs the short one).
chaos: deps web-assets $(MINIO)
	scripts/chaos.sh

clean:
	rm -rf bin web/node_modules web/static/vendor $(BUNDLE)
