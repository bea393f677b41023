package server

import (
	"flag"
	"fmt"
	"time"

	"github.com/udftiles/udftiles/demo"
)

func demoData(args []string) error {
	fs := flag.NewFlagSet("demo-data", flag.ContinueOnError)
	out := fs.String("out", "data/demo", "folder to write into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	files, err := demo.Write(*out)
	for _, f := range files {
		fmt.Println("wrote", f)
	}
	if err != nil {
		return err
	}
	fmt.Printf("demo data ready in %s (%.1fs)\n", *out, time.Since(start).Seconds())
	return nil
}
