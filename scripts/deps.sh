#!/usr/bin/env bash
# Installs the Debian packages udftiles needs, only those missing.
# Usage: scripts/deps.sh [extra packages...]
set -euo pipefail

pkgs=(
  libgdal-dev gdal-bin            # GDAL 3.6 through godal (cgo), gdalwarp for tests
  python3-numpy python3-pandas python3-geopandas python3-shapely   # Debian's /usr/bin/python3 stack,
  python3-rasterio python3-xarray python3-matplotlib python3-gdal  # on which UDFs run
  python3-scipy python3-skimage python3-rioxarray python3-pyproj python3-fiona  # what UDFs import
  python3-boto3 python3-fsspec python3-dotenv python3-openpyxl python3-netcdf4  # (docs/udfs.md,
  python3-h5py python3-zarr python3-dask python3-pil python3-rtree python3-requests  #  "Python runtime")
  python3-pip python3-venv python3-setuptools python3-wheel  # pip install ./clients/python, offline
  nodejs npm                      # the map page's MapLibre bundle
  chromium                        # headless browser tests of the map page
  postgresql-15 postgresql-15-postgis-3  # the store's PostgreSQL tests (internal/pgtest runs its own server)
  gcc pkg-config make curl ca-certificates
  "$@"
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A node and npm already on PATH (e.g. from nodesource) are fine.
if command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
