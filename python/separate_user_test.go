package python_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
)

// TestWorkersAsAnotherUser runs the workers through an interpreter wrapper
// that drops to another user (setpriv, as docs/security.md describes): UDF code
// then runs as that user and cannot read a file only the server's user may
// read. Dropping to another user needs root, as the CI machine is.
func TestWorkersAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing user needs root; CI runs as root")
	}
	if _, err := os.Stat("/usr/bin/setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is required: %v", err)
	}
	// Directories the other user may enter: the wrapper, the UDF, the cache.
	dir, err := os.MkdirTemp("", "udftiles-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	wrapper := filepath.Join(dir, "udf-python")
	script := "#!/bin/sh\nexec /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs /usr/bin/python3 \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "server-only.txt")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	udf := filepath.Join(dir, "whoami.py")
	code := "import os\n@fused.udf\ndef udf():\n    try:\n        open(" + pyQuote(secret) + ").read()\n        seen = 'read'\n    except PermissionError:\n        seen = 'denied'\n    return f'{os.getuid()} {seen}'\n"
	if err := os.WriteFile(udf, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	os.Mkdir(cache, 0o777)
	os.Chmod(cache, 0o777)
	p, err := python.NewPool(python.Config{Interpreter: wrapper, Workers: 1, CacheDir: cache,
		StartTimeout: 60 * time.Second, Timeout: 60 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	waitReady(t, p)
	u := python.NewUDF(p, python.Options{Path: udf})
	res, err := u.Run(context.Background(), layer.Request{Params: map[string]any{}})
	if err != nil {
		t.Fatalf("run: %v (logs: %s)", err, logsOf(err))
	}
	v, ok := res.(*layer.Value)
	if !ok || string(v.Body) != "65534 denied" {
		t.Fatalf("the UDF saw %T %q, want uid 65534 and the server's file denied", res, bodyOf(res))
	}
}

func pyQuote(s string) string { return "'" + s + "'" }

func bodyOf(r layer.Result) string {
	if v, ok := r.(*layer.Value); ok {
		return string(v.Body)
	}
	return ""
}
