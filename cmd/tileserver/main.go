// Command tileserver serves UDFs, COGs and vector files as XYZ tiles.
//
// It is package cli's Main with the built-in kinds; see examples/gohandler
// for a tileserver with Go handlers of your own compiled in.
package main

import (
	"os"

	"github.com/udftiles/udftiles/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.WithVersion(version)))
}
