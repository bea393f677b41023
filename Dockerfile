# udftiles: multi-stage build on Debian bookworm (GDAL 3.6 and Debian's Python geo stack).
#   docker build -t udftiles .
#   docker run --rm -p 8080:8080 udftiles            # the demo on http://localhost:8080
#   docker run --rm -p 8080:8080 -v $PWD/my.yaml:/etc/udftiles/config.yaml udftiles serve --config /etc/udftiles/config.yaml

FROM golang:1.26-bookworm AS build
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libgdal-dev nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --no-audit --no-fund
COPY . .
ARG VERSION=dev
RUN mkdir -p web/static/vendor \
 && cp web/node_modules/maplibre-gl/dist/maplibre-gl.js web/node_modules/maplibre-gl/dist/maplibre-gl.css web/static/vendor/ \
 && npm run --prefix web --silent build \
 && go build -ldflags "-X main.version=${VERSION}" -o /out/tileserver ./cmd/tileserver

FROM debian:bookworm-slim
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      gdal-bin libgdal32 ca-certificates \
      python3 python3-numpy python3-pandas python3-geopandas python3-shapely python3-rasterio python3-xarray python3-matplotlib \
      python3-scipy python3-skimage python3-rioxarray python3-pyproj python3-fiona python3-boto3 python3-fsspec \
      python3-dotenv python3-openpyxl python3-netcdf4 python3-h5py python3-zarr python3-dask python3-pil python3-rtree \
      python3-requests python3-gdal \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin udftiles
COPY --from=build /out/tileserver /usr/local/bin/tileserver
WORKDIR /app
# The default config serves the example Python UDFs from udfs/, relative to /app.
COPY udfs /app/udfs
RUN tileserver demo-data --out /app/data/demo && chown -R udftiles /app \
 && mkdir -p /var/lib/udftiles && chown udftiles /var/lib/udftiles
# The catalog's SQLite file (store.url's default); replicas use PostgreSQL instead.
VOLUME /var/lib/udftiles
USER udftiles
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/bin/python3", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status == 200 else 1)"]
ENTRYPOINT ["tileserver"]
CMD ["serve"]
