package config

import (
	"strings"
	"testing"
)

// TestStorageKeys: storage.allow takes s3:// prefixes and absolute
// directories, storage.fd lies under one of them, env is for python layers.
func TestStorageKeys(t *testing.T) {
	for _, c := range []struct {
		yaml, err string
	}{
		{"storage: {allow: [s3://b/p/, /srv/files], fd: s3://b/p/fd/}\n", ""},
		{"storage: {allow: [s3:///x]}\n", "storage.allow[0]"},
		{"storage: {allow: [relative/dir]}\n", "storage.allow[0]"},
		{"storage: {allow: [/srv/../etc]}\n", "storage.allow[0]"},
		{"storage: {allow: [/vsicurl/x]}\n", "storage.allow[0]"},
		{"storage: {allow: [s3://b/p/], fd: s3://other/}\n", "storage.fd"},
		{"udfs:\n  - {name: a, handler: python, path: a.py, env: {K: v}}\n", ""},
		{"udfs:\n  - {name: a, handler: cog, path: a.tif, env: {K: v}}\n", "udfs[0].env"},
	} {
		_, err := Parse([]byte(c.yaml), "")
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.yaml, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want an error naming %s", c.yaml, err, c.err)
		}
	}
}
