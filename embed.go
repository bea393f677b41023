// Package udftiles holds the files compiled into the binary: the default config.
package udftiles

import _ "embed"

// DefaultConfig is config.yaml as shipped: it serves the demo data.
//
//go:embed config.yaml
var DefaultConfig []byte
