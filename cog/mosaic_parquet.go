package cog

import "fmt"

// readParquetIndex reads a GeoParquet footprint index.
func readParquetIndex(p string) ([]string, []footprint, error) {
	return nil, nil, fmt.Errorf("%s: GeoParquet footprint indexes are not read yet", p)
}
