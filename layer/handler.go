// Package layer is the server's domain: a Handler turns a Request (a tile or
// bounds plus coerced parameters) into a Result (a Raster, Features, a Table or
// a Value); a Layer is a named handler with its serving options, kept in a
// Registry; a Schema coerces query strings into typed parameters; errors carry a
// Kind that each transport maps to its own status. It knows no HTTP and starts
// no process: the runtimes (python, gohandler) and the built-in kinds (cog,
// vector) implement Handler.
package layer

import (
	"context"

	"github.com/udftiles/udftiles/tiles"
)

// Request is one call of a handler.
type Request struct {
	Tile   *tiles.Tile    // nil in file (single) mode
	Bounds tiles.Bounds   // lon/lat; from the tile, from ?bounds=, or the handler's default
	Params map[string]any // already coerced against the handler's Schema
	Format string         // requested output format, "" = the result's natural one
	// Area is the geometry file mode's bounds= gave (GeoJSON or WKT, as
	// given), Bounds being its envelope; "" when bounds were four numbers.
	// Handlers that take shapes (Python's GeoDataFrame and shapely
	// annotations) use it; the others use Bounds.
	Area string
	// Depth counts the runs and submits started by UDFs above this one
	// (X-Udftiles-Depth); Python UDFs refuse to go deeper than MaxDepth.
	Depth int
}

// MaxDepth bounds nested runs and submits started by UDFs, as Fused does.
const MaxDepth = 5

// Handler computes results for one layer.
type Handler interface {
	// Schema lists the parameters, modes and default format.
	Schema() Schema
	// Version identifies the code and data behind results; it is part of every cache key.
	Version() string
	// Run computes a result. Errors should be *Error so clients get an honest status.
	Run(ctx context.Context, r Request) (Result, error)
}

// Queued is implemented by handlers that bound their own waiting calls (the
// Python runtime's queue per UDF): they take no render slot, since a slot held
// while waiting for a worker would stall the other layers' renders.
type Queued interface {
	OwnsQueue()
}

// Statuser is implemented by handlers whose source can be unavailable; a non-nil
// error is shown in /v1/udfs.
type Statuser interface {
	Status() error
}
