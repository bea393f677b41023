module github.com/udftiles/udftiles

go 1.26.0

require (
	github.com/airbusgeo/godal v0.0.18
	github.com/dgraph-io/ristretto/v2 v2.4.2
	github.com/gorilla/mux v1.8.1
	golang.org/x/sync v0.25.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	golang.org/x/sys v0.36.0 // indirect
)
