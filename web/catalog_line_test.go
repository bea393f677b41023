package web

import "testing"

func TestFailingLine(t *testing.T) {
	for tb, want := range map[string]int{
		"Traceback (most recent call last):\n  File \"/c/catalog/_check/ab/_check.py\", line 5\n    return 1 +\nSyntaxError: invalid syntax": 5,
		// The last frame of the UDF's own file, not the library's below it.
		"Traceback (most recent call last):\n  File \"/srv/runner.py\", line 300, in call\n  File \"/c/catalog/draft-0123/ab/draft-0123.py\", line 7, in udf\n  File \"/usr/lib/python3/dist-packages/numpy/core.py\", line 12, in full\nValueError: bad": 7,
		"no traceback at all":                         0,
		"  File \"/usr/lib/python3.11/x.py\", line 9": 0,
	} {
		if got := failingLine(tb); got != want {
			t.Errorf("failingLine(%.60q) = %d, want %d", tb, got, want)
		}
	}
}
