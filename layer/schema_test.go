package layer

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestCoerce(t *testing.T) {
	sch := Schema{Params: []Param{
		{Name: "n", Type: Int, Default: 7},
		{Name: "f", Type: Float},
		{Name: "b", Type: Bool, Default: false},
		{Name: "s", Type: Str},
		{Name: "mode", Type: Str, Default: "fast", Enum: []string{"fast", "slow"}},
		{Name: "size", Type: Int, Default: 256, Enum: []string{"256", "512"}},
		{Name: "ids", Type: IntList},
		{Name: "ws", Type: FloatList},
	}}
	defaults := map[string]any{"n": 7, "b": false, "mode": "fast", "size": 256}
	with := func(kv map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range defaults {
			out[k] = v
		}
		for k, v := range kv {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name   string
		schema Schema
		query  string
		want   map[string]any
		errHas []string // substrings of the error; nil means success
	}{
		{name: "defaults only", query: "", want: with(nil)},
		{name: "empty value takes the default", query: "n=", want: with(nil)},
		{name: "int", query: "n=42", want: with(map[string]any{"n": 42})},
		{name: "int two signs", query: "n=--3", errHas: []string{"parameter n", "integer"}},
		{name: "int last value wins", query: "n=1&n=2", want: with(map[string]any{"n": 2})},
		{name: "int not a number", query: "n=4.5", errHas: []string{"parameter n", "want an integer", `"4.5"`}},
		{name: "float", query: "f=2.5", want: with(map[string]any{"f": 2.5})},
		{name: "float exponent", query: "f=1e3", want: with(map[string]any{"f": 1000.0})},
		{name: "float bad", query: "f=abc", errHas: []string{"parameter f", "want a number"}},
		{name: "bool true", query: "b=true", want: with(map[string]any{"b": true})},
		{name: "bool 1", query: "b=1", want: with(map[string]any{"b": true})},
		{name: "bool bad", query: "b=yes", errHas: []string{"parameter b", "true or false"}},
		{name: "str", query: "s=hello+world", want: with(map[string]any{"s": "hello world"})},
		{name: "enum ok", query: "mode=slow", want: with(map[string]any{"mode": "slow"})},
		{name: "enum bad", query: "mode=medium", errHas: []string{"parameter mode", "fast, slow", `"medium"`}},
		{name: "int enum ok", query: "size=512", want: with(map[string]any{"size": 512})},
		{name: "int enum bad", query: "size=300", errHas: []string{"parameter size", "256, 512"}},
		{name: "int list comma", query: "ids=3,2,1", want: with(map[string]any{"ids": []int{3, 2, 1}})},
		{name: "int list repeated", query: "ids=1&ids=2,3", want: with(map[string]any{"ids": []int{1, 2, 3}})},
		{name: "int list bad", query: "ids=1,x", errHas: []string{"parameter ids", "integers", `"x"`}},
		{name: "float list", query: "ws=0.5,1", want: with(map[string]any{"ws": []float64{0.5, 1}})},
		{name: "float list bad", query: "ws=0.5,y", errHas: []string{"parameter ws", "numbers"}},
		{name: "unknown lists known names", query: "zzz=1&aaa=2",
			errHas: []string{"unknown parameter aaa, zzz", "n, f, b, s, mode, size, ids, ws"}},
		{name: "kwargs pass unknown as strings", schema: Schema{Params: sch.Params, Kwargs: true},
			query: "zzz=1&zzz=2&n=3", want: with(map[string]any{"n": 3, "zzz": "2"})},
		{name: "no params no defaults", schema: Schema{}, query: "", want: map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sch
			if tt.schema.Params != nil || tt.name == "no params no defaults" {
				s = tt.schema
			}
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Coerce(q)
			if tt.errHas != nil {
				if err == nil {
					t.Fatalf("Coerce(%q) = %v, want an error", tt.query, got)
				}
				if KindOf(err) != BadRequest {
					t.Errorf("error kind %v, want BadRequest", KindOf(err))
				}
				for _, sub := range tt.errHas {
					if !strings.Contains(err.Error(), sub) {
						t.Errorf("error %q does not contain %q", err, sub)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Coerce(%q): %v", tt.query, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Coerce(%q) = %#v, want %#v", tt.query, got, tt.want)
			}
		})
	}
}

func TestHasFormat(t *testing.T) {
	s := Schema{Formats: []string{"png", "npy"}}
	for f, want := range map[string]bool{"png": true, "npy": true, "jpg": false, "": false} {
		if got := s.HasFormat(f); got != want {
			t.Errorf("HasFormat(%q) = %v, want %v", f, got, want)
		}
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		err  error
		kind Kind
	}{
		{Errorf(BadRequest, "bad %s", "x"), BadRequest},
		{Errorf(NotFound, "nope"), NotFound},
		{Errorf(TooLarge, "big"), TooLarge},
		{Errorf(WorkerDied, "died"), WorkerDied},
		{Errorf(Unavailable, "later"), Unavailable},
		{Errorf(Timeout, "slow"), Timeout},
		{Errorf(Internal, "bug"), Internal},
		{errors.New("plain"), Internal},
		{fmt.Errorf("wrapped: %w", Errorf(NotFound, "inner")), NotFound},
		{fmt.Errorf("twice: %w", fmt.Errorf("once: %w", Errorf(Timeout, "x"))), Timeout},
		{nil, Internal},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.kind {
			t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.kind)
		}
	}
	e := Errorf(BadRequest, "parameter %s: want %d", "n", 3)
	if e.Error() != "parameter n: want 3" {
		t.Errorf("Errorf message %q", e.Error())
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	r.Add(&Layer{Name: "b"})
	r.Add(&Layer{Name: "a"})
	r.Add(&Layer{Name: "c", Err: errors.New("broken")})
	r.Add(&Layer{Name: "b", Description: "replaced"})
	var names []string
	for _, l := range r.List() {
		names = append(names, l.Name)
	}
	if !reflect.DeepEqual(names, []string{"a", "b", "c"}) {
		t.Errorf("List names %v, want [a b c]", names)
	}
	if l, ok := r.Get("b"); !ok || l.Description != "replaced" {
		t.Errorf("Get(b) = %+v, %v; want the replacement", l, ok)
	}
	if _, ok := r.Get("zzz"); ok {
		t.Error("Get(zzz) found a layer")
	}
	if l, _ := r.Get("c"); l.Status() == nil || l.Status().Error() != "broken" {
		t.Errorf("Status of a layer with Err = %v, want broken", l.Status())
	}
}
