// Command tileserver serves UDFs, COGs and vector files as XYZ tiles.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `tileserver: UDFs, COGs and vector files as XYZ tiles

Usage:
  tileserver serve [--config FILE] [--listen ADDR]   serve tiles (default config: the demo)
  tileserver demo-data [--out DIR]                   write the demo rasters (default data/demo)
  tileserver version                                 print the version

Run "tileserver COMMAND -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "demo-data":
		err = demoData(args)
	case "version", "--version":
		fmt.Println("tileserver", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "tileserver: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tileserver:", err)
		os.Exit(1)
	}
}
