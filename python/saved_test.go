package python_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/python"
)

// gitRepo makes a git repository with public/Answer/Answer.py answering 1 in
// its first commit and 2 on main; it returns the repository and the first commit.
func gitRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(answer string) {
		udf := filepath.Join(dir, "public", "Answer")
		if err := os.MkdirAll(udf, 0o755); err != nil {
			t.Fatal(err)
		}
		code := "@fused.udf\ndef udf():\n    return " + answer + "\n"
		if err := os.WriteFile(filepath.Join(udf, "Answer.py"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("1")
	git("add", ".")
	git("commit", "-q", "-m", "one")
	first := git("rev-parse", "HEAD")
	write("2")
	git("commit", "-q", "-am", "two")
	// The working tree differs from both: a load reads the commit, not the files.
	write("3")
	return dir, first
}

func TestLoadSavedUDFs(t *testing.T) {
	repo, first := gitRepo(t)
	p := startPool(t, python.Config{Workers: 1, Repos: map[string]string{"github.com/acme/udfs": repo}})
	u := python.NewUDF(p, python.Options{Path: fixture(t, "load_saved.py")})
	work := t.TempDir()
	got := jsonValue(t, u, q("work", work, "saved", fixture(t, "saved"), "first", first), nil).(map[string]any)

	src := got["src"].(map[string]any)
	wantJSON(t, "loaded folder", src, `{"name":"Greeter","call":"HELLO X!9","run":"HELLO META!9","params":{"who":"meta"},
		"meta":{"fused:description":"Greets whoever it is given."},"max_age":"5m","code_has_udf":true}`)
	if got["pickles_before"].(float64) < 1 || got["deleted_folders"].(float64) < 1 || got["pickles_after"] != 0.0 {
		t.Errorf("delete_cache: %v pickles before, %v folders removed, %v pickles after", got["pickles_before"], got["deleted_folders"], got["pickles_after"])
	}
	wantJSON(t, "to_directory files", got["dir_files"], `["Greeter.py","README.md","meta.json","shout.py","utils.py"]`)
	wantJSON(t, "to_directory, loaded", got["dir"], `{"name":"Greeter","call":"HELLO DIR!9","same_code":true,
		"meta":{"fused:description":"Greets whoever it is given.","my_company:tags":["tag_1","tag_2"]}}`)
	wantJSON(t, "to_file names", got["zip_names"], `["Greeter/Greeter.py","Greeter/README.md","Greeter/meta.json","Greeter/shout.py","Greeter/utils.py"]`)
	wantJSON(t, "to_file, loaded", got["zip"], `{"name":"Greeter","call":"HELLO ZIP!9",
		"meta":{"fused:description":"Greets whoever it is given.","my_company:tags":["tag_1","tag_2"]}}`)
	if got["zip_buffer_same"] != true {
		t.Errorf("to_file of a file object wrote other members")
	}
	if got["raw"] != 42.0 {
		t.Errorf("fused.load of code: %v, want 42", got["raw"])
	}
	if got["git_first"] != 1.0 || got["git_main"] != 2.0 || got["git_blob"] != 2.0 {
		t.Errorf("GitHub URLs: first commit %v (want 1), main %v and blob %v (want 2)", got["git_first"], got["git_main"], got["git_blob"])
	}
	for key, words := range map[string][]string{
		"dir_exists":           {"FileExistsError", "overwrite=True"},
		"bad_zip":              {"ValueError", "not a zip"},
		"evil_zip":             {"ValueError", "outside the archive"},
		"git_unknown_repo":     {"ValueError", "python.repos", "github.com/other/repo"},
		"git_unknown_ref":      {"ValueError", "no-such-branch"},
		"git_unknown_path":     {"ValueError", "public/Nothing"},
		"unknown_option":       {"TypeError", "headrs"},
		"missing_header":       {"FileNotFoundError", "nowhere.py"},
		"unknown_cache_option": {"TypeError", "colour"},
		"missing":              {"ValueError", "no-such-udf"},
	} {
		msg, _ := got[key].(string)
		for _, w := range words {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q, want it to name %q", key, msg, w)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(work, "..", "escape.py")); err == nil {
		t.Errorf("a zip member escaped the folder it was unpacked into")
	}
}

// wantJSON fails the test when v, as JSON, is not want.
func wantJSON(t *testing.T, what string, v any, want string) {
	t.Helper()
	b, _ := json.Marshal(v)
	if !jsonEqual(t, string(b), want) {
		t.Errorf("%s: %s\nwant %s", what, b, want)
	}
}
