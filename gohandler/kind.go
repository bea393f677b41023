package gohandler

import (
	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/layer"
)

// Factory is the factory of Go layers (handler: go): the Go handler the entry
// names (go:), built with its options.
func (g Factories) Factory(u config.UDF) (layer.Handler, error) { return g.New(u.Go, u.Options) }

// PluginFactory is the factory of plugin layers (handler: plugin): the .so
// file at path, built with its options.
func PluginFactory(u config.UDF) (layer.Handler, error) { return OpenPlugin(u.Path, u.Options) }
