// Command tileserver serves UDFs, COGs and vector files as XYZ tiles.
//
// It is package server's Main with the built-in handlers; see examples/gohandler
// for a tileserver with Go handlers of your own compiled in.
package main

import (
	"os"

	"github.com/udftiles/udftiles/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(server.Main(os.Args[1:], server.WithVersion(version)))
}
