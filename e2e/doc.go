// Package e2e holds the end-to-end tests: the real binary on 127.0.0.1 with
// Debian's Python, GDAL, MinIO and headless Chromium (serving, shared
// replicas, batch runs, exports, faults and hostile UDFs, the map page, the
// docs' own examples). Unit tests stay beside the code they test.
package e2e
