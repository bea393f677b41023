package gohandler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"plugin"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/udftiles/udftiles/layer"
)

// PluginSymbol is what a Go plugin exports for the server to call, once per layer:
//
//	func NewHandler(options map[string]any) (layer.Handler, error)
//
// (a variable of that type, or of type Factory, works too).
const PluginSymbol = "NewHandler"

// OpenPlugin loads a Go plugin, a .so built with `go build -buildmode=plugin`, and
// builds its handler with the layer's options. Every failure is an error that
// says what to do: a missing file, a file that is not a plugin, a plugin built
// with another Go version, other module versions or other build flags, a missing
// or mistyped NewHandler, and a NewHandler that fails or panics.
//
// A plugin cannot be unloaded: rebuilding it takes a restart of the server. The
// handler's Version is prefixed with a hash of the file, so cached results of an
// older build of the plugin are not served.
func OpenPlugin(path string, options map[string]any) (layer.Handler, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %v", path, err)
	}
	sum, err := fileHash(abs)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("plugin %s: no such file (build it with: go build -buildmode=plugin -o %s ./your/plugin)", path, path)
		}
		return nil, fmt.Errorf("plugin %s: %v", path, err)
	}
	p, err := openPlugin(abs)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %s", path, strings.TrimPrefix(explainPluginError(err), abs+": "))
	}
	sym, err := p.Lookup(PluginSymbol)
	if err != nil {
		return nil, fmt.Errorf("plugin %s exports no %s; it must declare: %s", path, PluginSymbol, pluginSignature)
	}
	var f Factory
	switch s := sym.(type) {
	case func(map[string]any) (layer.Handler, error):
		f = s
	case *func(map[string]any) (layer.Handler, error):
		f = *s
	case Factory:
		f = s
	case *Factory:
		f = *s
	default:
		return nil, fmt.Errorf("plugin %s: %s is a %T; it must be: %s", path, PluginSymbol, sym, pluginSignature)
	}
	if f == nil {
		return nil, fmt.Errorf("plugin %s: %s is nil; it must be: %s", path, PluginSymbol, pluginSignature)
	}
	h, err := callFactory("plugin "+path, f, options)
	if err != nil {
		return nil, err
	}
	return &pluginHandler{Handler: h, build: sum}, nil
}

const pluginSignature = "func NewHandler(options map[string]any) (layer.Handler, error)"

// panickedPlugins holds, by real path, the plugins whose init functions
// panicked: package plugin would block forever on opening one of them again.
var panickedPlugins sync.Map

// openPlugin opens a plugin; a panic in the plugin's init functions is an error,
// and stays the answer for that file for the life of the process.
func openPlugin(path string) (p *plugin.Plugin, err error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	if e, ok := panickedPlugins.Load(real); ok {
		return nil, e.(error)
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("panicked while loading: %v (restart the server to load it again)", r)
			panickedPlugins.Store(real, err)
		}
	}()
	return plugin.Open(real)
}

// explainPluginError drops plugin.Open's own prefix and adds the fix for the
// failures users meet.
func explainPluginError(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "plugin.Open(") {
		if _, rest, ok := strings.Cut(msg, "): "); ok {
			msg = rest
		}
	}
	switch {
	case strings.Contains(msg, "different version of package"):
		return msg + ": rebuild the plugin with the same Go toolchain (" + runtime.Version() +
			"), the same versions of every module it shares with the server, and the same build flags (-trimpath, -race, -tags)"
	case strings.Contains(msg, "already loaded"):
		return msg + ": another plugin with the same package path is loaded; give each plugin its own module path, and restart the server to load a rebuilt plugin"
	case strings.Contains(msg, "not implemented"):
		return msg + ": plugins need a server built with cgo (CGO_ENABLED=1) on Linux, macOS or FreeBSD"
	case strings.Contains(msg, "not a dynamic executable"), strings.Contains(msg, "invalid ELF header"),
		strings.Contains(msg, "file too short"), strings.Contains(msg, "not a mach-o"):
		return msg + ": not a Go plugin (build one with go build -buildmode=plugin)"
	}
	return msg
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:6]), nil
}

// pluginHandler ties a plugin's handler to the build of the plugin: Version is
// prefixed with the file's hash. Status and MaxAge are passed through.
type pluginHandler struct {
	layer.Handler

	build string
}

func (p *pluginHandler) Version() string { return "plugin-" + p.build + "/" + p.Handler.Version() }

// Status implements Statuser for plugins whose handler does.
func (p *pluginHandler) Status() error {
	if s, ok := p.Handler.(layer.Statuser); ok {
		return s.Status()
	}
	return nil
}

// MaxAge implements MaxAger for plugins whose handler does.
func (p *pluginHandler) MaxAge() (time.Duration, bool) {
	if m, ok := p.Handler.(layer.MaxAger); ok {
		return m.MaxAge()
	}
	return 0, false
}
