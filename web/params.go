package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"

	"github.com/udftiles/udftiles/layer"
)

// Each parameter is read once: the limits, the cache key and the handler all
// see the same value. A parameter given twice would let them disagree (the
// limits check one value, a handler uses another), so it is refused, except
// the ones documented to repeat.

// repeatable are the query parameters that may be given more than once; every
// value is used, and each counts toward limits.max_params.
var repeatable = map[string]bool{
	"rescale": true, // min,max once per band
}

// fastScanPairs bounds the pairs quickDuplicate compares without parsing.
const fastScanPairs = 64

// quickDuplicate looks for a repeated name in a short raw query without
// parsing it: names are compared as written. It reports the repeated name, or
// ok = false when a name is escaped (%, +) or an escape is broken, and only
// parsing can tell.
func quickDuplicate(raw string) (dup string, ok bool) {
	for rest := raw; ; {
		i := strings.IndexByte(rest, '%')
		if i < 0 {
			break
		}
		if i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2]) {
			return "", false
		}
		rest = rest[i+3:]
	}
	var names [fastScanPairs]string
	n := 0
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(name, "%+") || n == len(names) {
			return "", false
		}
		if !repeatable[name] {
			for _, seen := range names[:n] {
				if seen == name {
					return name, true
				}
			}
		}
		names[n] = name
		n++
	}
	return "", true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// repeatableOn are parameters that repeat on some routes only: p (a
// percentile) on .../statistics, as TiTiler's ?p=5&p=95.
func repeatableOn(path string) map[string]bool {
	if strings.HasSuffix(path, "/statistics") {
		return map[string]bool{"p": true}
	}
	return nil
}

// duplicated is the first parameter of q given more than once that may not
// be; also names the parameters that may repeat on the request's route.
func duplicated(q url.Values, also map[string]bool) string {
	for k, vs := range q {
		if len(vs) > 1 && !repeatable[k] && !also[k] {
			return k
		}
	}
	return ""
}

func duplicateError(name string) error {
	return layer.Errorf(layer.BadRequest, "parameter %s: given more than once; give it once (only rescale repeats, once per band)", truncate(name, 64))
}

// jsonParams reads a JSON object of parameters; a key given twice is a 400,
// as a query parameter given twice is.
func jsonParams(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("want an object")
	}
	out := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, duplicateError(key)
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return out, nil
}

// asBadRequest keeps a layer error (a key given twice) as it is and makes
// any other a 400 prefixed with what.
func asBadRequest(err error, what string) error {
	var ue *layer.Error
	if errors.As(err, &ue) {
		return err
	}
	return layer.Errorf(layer.BadRequest, "%s: %v", what, err)
}
