package layer

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"
)

// fuzzTypes are the parameter types a fuzzed schema picks from.
var fuzzTypes = []ParamType{Int, Float, Bool, Str, IntList, FloatList, List, Dict, Geometry}

// fuzzSchema builds a schema from spec: one parameter per byte (at most 8),
// named a, b, c, ...; the low nibble picks the type, bit 4 makes it required,
// bit 5 gives it an enum, bit 6 a default. A spec starting with '*' takes kwargs.
func fuzzSchema(spec []byte) Schema {
	var s Schema
	if len(spec) > 0 && spec[0] == '*' {
		s.Kwargs = true
		spec = spec[1:]
	}
	for i, b := range spec[:min(len(spec), 8)] {
		p := Param{Name: string(rune('a' + i)), Type: fuzzTypes[int(b&0x0f)%len(fuzzTypes)], Required: b&0x10 != 0}
		if b&0x20 != 0 {
			p.Enum = []string{"1", "2.5", "true", "x", "[1 2]"}
		}
		if b&0x40 != 0 {
			p.Default = "default"
		}
		s.Params = append(s.Params, p)
	}
	s.Reserved = []string{"z"}
	return s
}

// FuzzCoerce feeds query strings to Schema.Coerce: it never panics, fails only
// with BadRequest errors, and what it returns has the declared Go types.
func FuzzCoerce(f *testing.F) {
	for _, seed := range []struct {
		spec, query string
		empty       bool
	}{
		{"\x00\x01\x02\x03", "a=1&b=2.5&c=true&d=hello", false},
		{"\x04\x05", "a=1,2,3&a=4&b=0.5,1e3,-inf", false},
		{"\x06\x07\x08", "a=[1,\"x\",null]&b={\"k\":[1,2]}&c=POINT(1 2)", false},
		{"\x06", "a=x,+y,z&a=w", false},
		{"\x10\x11", "b=1", false},
		{"*\x00", "a=1&zz=2&zz=3&z=4", false},
		{"\x20\x24\x22", "a=1&b=1,2&c=TRUE", false},
		{"\x21\x23", "a=2.50&b=x", false},
		{"\x40\x50", "a=&b=", false},
		{"\x00", "a=99999999999999999999&b=1", false},
		{"\x07", "a=null", false},
		{"\x06", "a=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]", false},
		{"", "unknown=1&other=%zz", false},
		{"*", "x=1", true},
		{"\x00", "a=1", true},
	} {
		f.Add([]byte(seed.spec), seed.query, seed.empty)
	}
	f.Fuzz(func(t *testing.T, spec []byte, query string, empty bool) {
		s := fuzzSchema(spec)
		q, _ := url.ParseQuery(query) // what parsed is what a handler would see
		if empty {
			// url.Values may hold a name with no values when built by hand.
			for k := range q {
				q[k] = nil
			}
		}
		got, err := s.Coerce(q)
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) || ue.Kind != BadRequest || ue.Msg == "" {
				t.Fatalf("Coerce(%q) error %#v, want a BadRequest *Error", query, err)
			}
			if got != nil {
				t.Fatalf("Coerce(%q) returned %v with error %v", query, got, err)
			}
			return
		}
		for _, p := range s.Params {
			v, ok := got[p.Name]
			if !ok {
				if p.Required {
					t.Fatalf("Coerce(%q): required %s missing from %v", query, p.Name, got)
				}
				continue
			}
			vals := q[p.Name]
			if len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
				if v != p.Default {
					t.Fatalf("Coerce(%q): %s = %#v, want its default", query, p.Name, v)
				}
				continue
			}
			if !typed(p.Type, v) {
				t.Fatalf("Coerce(%q): %s (%s) = %#v", query, p.Name, p.Type, v)
			}
			if len(p.Enum) > 0 && p.Type != IntList && p.Type != FloatList && !slices.Contains(p.Enum, fmt.Sprint(v)) {
				t.Fatalf("Coerce(%q): %s = %v is not in its enum", query, p.Name, v)
			}
		}
		for k, v := range got {
			if s.Kwargs && !slices.ContainsFunc(s.Params, func(p Param) bool { return p.Name == k }) {
				if _, ok := v.(string); !ok {
					t.Fatalf("Coerce(%q): kwarg %s = %#v, want a string", query, k, v)
				}
				if slices.Contains(s.Reserved, k) {
					t.Fatalf("Coerce(%q): reserved name %s was passed on", query, k)
				}
			}
		}
		if !s.Kwargs {
			for k := range q {
				known := slices.Contains(s.Reserved, k) || slices.ContainsFunc(s.Params, func(p Param) bool { return p.Name == k })
				if !known {
					t.Fatalf("Coerce(%q): unknown parameter %s accepted", query, k)
				}
			}
		}
	})
}

// typed reports whether v has the Go type Coerce gives parameters of type pt.
func typed(pt ParamType, v any) bool {
	switch pt {
	case Int:
		_, ok := v.(int)
		return ok
	case Float:
		_, ok := v.(float64)
		return ok
	case Bool:
		_, ok := v.(bool)
		return ok
	case IntList:
		_, ok := v.([]int)
		return ok
	case FloatList:
		_, ok := v.([]float64)
		return ok
	case List:
		_, ok := v.([]any)
		return ok
	case Dict:
		_, ok := v.(map[string]any)
		return ok
	}
	_, ok := v.(string)
	return ok
}
