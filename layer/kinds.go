package layer

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/udftiles/udftiles/config"
)

// Factory builds the handler of one configured layer from its config entry.
type Factory func(u config.UDF) (Handler, error)

// Kinds maps the handler kinds of the config (udfs[].handler) to their
// factories. A new kind of layer is a package with a Factory and one
// Register call where the server is wired.
type Kinds struct {
	factories map[string]Factory
}

// Register makes kind available; a kind registered again is replaced.
func (k *Kinds) Register(kind string, f Factory) {
	if k.factories == nil {
		k.factories = map[string]Factory{}
	}
	k.factories[kind] = f
}

// Names lists the registered kinds, sorted.
func (k *Kinds) Names() []string {
	out := make([]string, 0, len(k.factories))
	for name := range k.factories {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Has reports whether kind is registered.
func (k *Kinds) Has(kind string) bool { return slices.Contains(k.Names(), kind) }

// New builds the handler of u with the factory of its kind.
func (k *Kinds) New(u config.UDF) (Handler, error) {
	f, ok := k.factories[u.Handler]
	if !ok {
		return nil, fmt.Errorf("handler %q is not available in this build (it serves %s)", u.Handler, strings.Join(k.Names(), ", "))
	}
	return f(u)
}
