package layer

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/udftiles/udftiles/tiles"
)

// ParamType names the type a query value is coerced to.
type ParamType string

// Parameter types.
const (
	Int       ParamType = "int"
	Float     ParamType = "float"
	Bool      ParamType = "bool"
	Str       ParamType = "str"
	IntList   ParamType = "list[int]"
	FloatList ParamType = "list[float]"
	List      ParamType = "list"     // a JSON list, or comma-separated strings
	Dict      ParamType = "dict"     // a JSON object
	Geometry  ParamType = "geometry" // GeoJSON or WKT, parsed by the UDF's side
	// DataFrame is a table: JSON records (a list of objects), a JSON object
	// (columns, or GeoJSON); GeoDataFrame also takes WKT. Checked here, passed
	// on as its text and built by the UDF's side.
	DataFrame    ParamType = "dataframe"
	GeoDataFrame ParamType = "geodataframe"
)

// Param is one parameter of a handler.
type Param struct {
	Name        string    `json:"name"`
	Type        ParamType `json:"type"`
	Default     any       `json:"default,omitempty"`
	Enum        []string  `json:"enum,omitempty"`
	Required    bool      `json:"required,omitempty"`
	Description string    `json:"description,omitempty"`
}

// Schema describes what a handler accepts and produces.
type Schema struct {
	Params        []Param      `json:"parameters"`
	Kwargs        bool         `json:"kwargs"` // unknown parameters are passed on as strings
	Modes         []string     `json:"modes"`  // "tile", "file"
	Formats       []string     `json:"formats"`
	DefaultFormat string       `json:"default_format"`
	MinZoom       int          `json:"minzoom"`
	MaxZoom       int          `json:"maxzoom"`
	Bounds        tiles.Bounds `json:"-"` // lon/lat extent of the data
	Doc           string       `json:"doc,omitempty"`
	// Natural: with no format asked for, the result's own kind picks it (png for
	// arrays, geojson for features, json for tables).
	Natural bool `json:"-"`
	// Reserved names are filled by the server (bounds, x, y, z), never by a query.
	Reserved []string `json:"-"`
	// NoBounds: the handler has nothing to give bounds to (a UDF declaring
	// no bounds parameter): bounds= or bbox= in a request is refused, not
	// dropped.
	NoBounds bool `json:"-"`
	// Restyle names parameters that, given in a request, change what the
	// values are (band math, an algorithm): the layer's configured colormap
	// and rescale, made for its plain values, then do not apply; the
	// request's own do.
	Restyle []string `json:"-"`
}

// HasFormat reports whether the handler can produce format f.
func (s Schema) HasFormat(f string) bool {
	for _, g := range s.Formats {
		if g == f {
			return true
		}
	}
	return false
}

// Coerce turns query values into typed parameters, filling defaults. Unknown
// names are an error unless the schema takes kwargs; errors are BadRequest and
// name the parameter and the type it wants.
func (s Schema) Coerce(q url.Values) (map[string]any, error) {
	out := make(map[string]any, len(s.Params))
	known := make(map[string]bool, len(s.Params))
	for _, p := range s.Params {
		known[p.Name] = true
		vals, ok := q[p.Name]
		if !ok || len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
			if p.Default != nil {
				out[p.Name] = p.Default
			} else if p.Required {
				return nil, &Error{Kind: BadRequest, Msg: fmt.Sprintf("parameter %s (%s) is required", p.Name, p.Type)}
			}
			continue
		}
		v, err := coerce(p, vals)
		if err != nil {
			return nil, &Error{Kind: BadRequest, Msg: fmt.Sprintf("parameter %s: %v", p.Name, err)}
		}
		out[p.Name] = v
	}
	for _, r := range s.Reserved {
		known[r] = true
	}
	var unknown []string
	for name, vals := range q {
		if known[name] {
			continue
		}
		if !s.Kwargs {
			unknown = append(unknown, name)
			continue
		}
		if len(vals) > 0 { // a name without values, as url.Values may hold, is absent
			out[name] = vals[len(vals)-1]
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		names := make([]string, len(s.Params))
		for i, p := range s.Params {
			names[i] = p.Name
		}
		return nil, &Error{Kind: BadRequest, Msg: fmt.Sprintf("unknown parameter %s; this layer takes: %s",
			strings.Join(unknown, ", "), strings.Join(names, ", "))}
	}
	return out, nil
}

// coerce converts vals to p's type and checks the result against p's enum, which
// holds values of any scalar type as strings (tilesize: "256", "512").
func coerce(p Param, vals []string) (any, error) {
	v, err := coerceValue(p, vals)
	if err != nil || len(p.Enum) == 0 || p.Type == IntList || p.Type == FloatList {
		return v, err
	}
	for _, e := range p.Enum {
		if e == fmt.Sprint(v) {
			return v, nil
		}
	}
	return nil, fmt.Errorf("want one of %s, got %q", strings.Join(p.Enum, ", "), strings.TrimSpace(vals[len(vals)-1]))
}

func coerceValue(p Param, vals []string) (any, error) {
	last := strings.TrimSpace(vals[len(vals)-1])
	switch p.Type {
	case Int:
		n, err := strconv.Atoi(last)
		if err != nil {
			return nil, fmt.Errorf("want an integer, got %q", last)
		}
		return n, nil
	case Float:
		f, err := strconv.ParseFloat(last, 64)
		if err != nil {
			return nil, fmt.Errorf("want a number, got %q", last)
		}
		return f, nil
	case Bool:
		b, err := strconv.ParseBool(last)
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", last)
		}
		return b, nil
	case List:
		if strings.HasPrefix(last, "[") {
			var l []any
			if err := json.Unmarshal([]byte(last), &l); err != nil {
				return nil, fmt.Errorf("want a JSON list or comma-separated values, got %q", last)
			}
			return l, nil
		}
		var l []any
		for _, v := range vals {
			for _, f := range strings.Split(v, ",") {
				l = append(l, strings.TrimSpace(f))
			}
		}
		return l, nil
	case Dict:
		var d map[string]any
		if err := json.Unmarshal([]byte(last), &d); err != nil {
			return nil, fmt.Errorf("want a JSON object, got %q", last)
		}
		return d, nil
	case DataFrame, GeoDataFrame:
		return frameText(p.Type, last)
	case IntList, FloatList:
		var parts []string
		for _, v := range vals {
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f != "" {
					parts = append(parts, f)
				}
			}
		}
		if p.Type == IntList {
			ints := make([]int, len(parts))
			for i, f := range parts {
				n, err := strconv.Atoi(f)
				if err != nil {
					return nil, fmt.Errorf("want comma-separated integers, got %q", f)
				}
				ints[i] = n
			}
			return ints, nil
		}
		floats := make([]float64, len(parts))
		for i, f := range parts {
			x, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, fmt.Errorf("want comma-separated numbers, got %q", f)
			}
			floats[i] = x
		}
		return floats, nil
	default:
		return last, nil
	}
}

// frameText checks a DataFrame or GeoDataFrame parameter and returns its text:
// JSON records (a list of objects) or a JSON object (columns, or GeoJSON: a
// FeatureCollection, a Feature or a geometry); for a GeoDataFrame also WKT,
// which the UDF's side parses.
func frameText(t ParamType, s string) (any, error) {
	want := "JSON records (a list of objects), a JSON object or GeoJSON"
	if t == GeoDataFrame {
		want = "GeoJSON, WKT or JSON records with a geometry field"
	}
	switch {
	case strings.HasPrefix(s, "["):
		var rows []json.RawMessage
		if err := json.Unmarshal([]byte(s), &rows); err != nil {
			return nil, fmt.Errorf("want %s: %v", want, err)
		}
		for i, r := range rows {
			if len(r) == 0 || r[0] != '{' {
				return nil, fmt.Errorf("want %s: record %d is not a JSON object", want, i)
			}
		}
	case strings.HasPrefix(s, "{"):
		if !json.Valid([]byte(s)) {
			var v any
			return nil, fmt.Errorf("want %s: %v", want, json.Unmarshal([]byte(s), &v))
		}
	case t == GeoDataFrame && s != "" && (s[0]|0x20 >= 'a' && s[0]|0x20 <= 'z'):
		// WKT: parsed by the UDF's side
	default:
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return nil, fmt.Errorf("want %s, got %q", want, s)
	}
	return s, nil
}

// QueryText is a JSON value as a query parameter's text: strings as they
// are, numbers and booleans spelled out, null empty, lists and objects as
// JSON.
func QueryText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		// Whole numbers as integers: JSON's 1234567 is "1234567", not
		// "1.234567e+06" (which an int parameter refuses).
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
