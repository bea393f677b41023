package environ_test

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/internal/environ"
)

// TestHide runs this test binary as a child that hides its environment, then
// reads the child's /proc/<pid>/environ as another process would.
func TestHide(t *testing.T) {
	if os.Getenv("ENVIRON_TEST_CHILD") == "1" {
		if err := environ.Hide(); err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
			os.Exit(1)
		}
		// Still readable in the process.
		os.Stdout.WriteString("secret=" + os.Getenv("ENVIRON_TEST_SECRET") + "\n")
		os.Stdout.WriteString("ready\n")
		var b [1]byte
		os.Stdin.Read(b[:]) // wait until the parent has looked
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHide$")
	cmd.Env = append(os.Environ(), "ENVIRON_TEST_CHILD=1", "ENVIRON_TEST_SECRET=hunter2-sentinel")
	stdin, _ := cmd.StdinPipe()
	var out bytes.Buffer
	r, w, _ := os.Pipe()
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), "ready\n") {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			t.Fatalf("child: %q %v", out.String(), err)
		}
	}
	if !strings.Contains(out.String(), "secret=hunter2-sentinel") {
		t.Errorf("the child lost its environment: %q", out.String())
	}
	env, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/environ")
	if err == nil && bytes.Contains(env, []byte("hunter2-sentinel")) {
		t.Errorf("/proc/<pid>/environ still shows the secret")
	}
	if err == nil && bytes.Contains(env, []byte("ENVIRON_TEST")) {
		t.Errorf("/proc/<pid>/environ still shows variable names")
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, out.String())
	}
}
