package vector

import (
	"strings"
	"testing"
)

// Field types as OGR numbers them.
const (
	oftInteger   = 0
	oftReal      = 2
	oftString    = 4
	oftStrList   = 5
	oftBinary    = 8
	oftDate      = 9
	oftDateTime  = 11
	oftInteger64 = 12
)

var testColumns = []column{
	{Name: "pop_est", Type: oftReal}, {Name: "continent", Type: oftString}, {Name: "name", Type: oftString},
	{Name: "gdp_md_est", Type: oftInteger64}, {Name: "rank", Type: oftInteger}, {Name: "Founded", Type: oftDate},
	{Name: "tags", Type: oftStrList}, {Name: "odd name", Type: oftString},
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in, sql string
		cols    []string
	}{
		{"pop_est>1000000 AND continent='Africa'", `(("pop_est" > 1000000) AND ("continent" = 'Africa'))`, []string{"pop_est", "continent"}},
		{"pop_est >= 1e6 or not (rank = 3)", `(("pop_est" >= 1000000.0) OR (NOT ("rank" = 3)))`, []string{"pop_est", "rank"}},
		{"name LIKE 'Ger%'", `("name" LIKE 'Ger%')`, []string{"name"}},
		{"name not like 'A%' and rank != -2", `(("name" NOT LIKE 'A%') AND ("rank" <> -2))`, []string{"name", "rank"}},
		{"continent IN ('Africa', 'Asia')", `("continent" IN ('Africa', 'Asia'))`, []string{"continent"}},
		{"rank not in (1,2, 3)", `("rank" NOT IN (1, 2, 3))`, []string{"rank"}},
		{"gdp_md_est BETWEEN 10 AND 2.5e3", `("gdp_md_est" BETWEEN 10 AND 2500.0)`, []string{"gdp_md_est"}},
		{"name IS NULL OR name is not null", `(("name" IS NULL) OR ("name" IS NOT NULL))`, []string{"name"}},
		{`"odd name" = 'it''s'`, `("odd name" = 'it''s')`, []string{"odd name"}},
		{"founded > '2000-01-01'", `("Founded" > '2000-01-01')`, []string{"Founded"}},
		{"POP_EST < 5 AND a_or_b_is_not_a_column IS NULL", "", nil},
		{"1 < rank", `(1 < "rank")`, []string{"rank"}},
		{"pop_est = gdp_md_est", `("pop_est" = "gdp_md_est")`, []string{"pop_est", "gdp_md_est"}},
		{"((rank == 1))", `("rank" = 1)`, []string{"rank"}},
		{"rank = 1; DROP TABLE countries", "", nil},
		{"name = 'x') OR (1=1", "", nil},
	}
	for _, tt := range tests {
		f, err := parseFilter(tt.in, testColumns)
		if tt.sql == "" {
			if err == nil {
				t.Errorf("parseFilter(%q) = %q, want an error", tt.in, f.SQL)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseFilter(%q): %v", tt.in, err)
			continue
		}
		if f.SQL != tt.sql || strings.Join(f.Columns, ",") != strings.Join(orderLike(tt.cols), ",") {
			t.Errorf("parseFilter(%q) = %q %v, want %q %v", tt.in, f.SQL, f.Columns, tt.sql, tt.cols)
		}
	}
}

// orderLike puts column names in the layer's order, as filter.Columns are.
func orderLike(names []string) []string {
	var out []string
	for _, c := range testColumns {
		for _, n := range names {
			if n == c.Name {
				out = append(out, n)
			}
		}
	}
	return out
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"population > 5", []string{`no column "population"`, "pop_est, continent, name"}},
		{"pop_est > 'many'", []string{"cannot compare", "pop_est (number)", "'many' (text)"}},
		{"continent = 3", []string{"cannot compare", "continent (text)"}},
		{"pop_est LIKE '1%'", []string{"LIKE needs a text column", "pop_est"}},
		{"tags = 'a'", []string{"tags is a StringList", "number, text and date"}},
		{"pop_est >", []string{"want a column", "end of expression"}},
		{"pop_est > 5 AND", []string{"want a column", "end of expression"}},
		{"(pop_est > 5", []string{"want )"}},
		{"pop_est > 5)", []string{`unexpected ")"`, "character 12"}},
		{"name = 'open", []string{"unterminated '"}},
		{"pop_est ! 5", []string{"unexpected '!'"}},
		{"pop_est > 5 # comment", []string{"unexpected '#'"}},
		{"pop_est > 1.2.3", []string{`"1.2.3"`, "not a number"}},
		{"1 = 1", []string{"needs a column"}},
		{"name IN (continent)", []string{"IN takes a list"}},
		{"name IS 'x'", []string{"want NULL after IS"}},
		{"rank BETWEEN 1 OR 2", []string{"want AND in BETWEEN"}},
		{"name NOT = 'x'", []string{"want IN, BETWEEN or LIKE after NOT"}},
		{"pop_est", []string{"want a comparison"}},
		{"AND = 1", []string{"want a column", "AND"}},
		{strings.Repeat("(", 40) + "rank = 1" + strings.Repeat(")", 40), []string{"nests deeper"}},
		{strings.Repeat("x", maxFilterLen+1), []string{"over 4096 characters"}},
	}
	for _, tt := range tests {
		_, err := parseFilter(tt.in, testColumns)
		if err == nil {
			t.Errorf("parseFilter(%.40q) succeeded, want an error with %q", tt.in, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("parseFilter(%.40q): %v, want it to contain %q", tt.in, err, w)
			}
		}
	}
}

// TestFilterEval: the evaluation readers without OGR use (GeoParquet), with
// SQL's NULL logic: a comparison with NULL is unknown, and only true passes.
func TestFilterEval(t *testing.T) {
	cols := []column{{Name: "n", Type: oftReal}, {Name: "s", Type: oftString}}
	tests := []struct {
		expr string
		row  []any // n, s (nil = NULL)
		want bool
	}{
		{"n > 5", []any{int64(6), "x"}, true},
		{"n > 5", []any{nil, "x"}, false},
		{"NOT (n > 5)", []any{nil, "x"}, false}, // NOT unknown is unknown
		{"n > 5 OR s = 'x'", []any{nil, "x"}, true},
		{"n > 5 AND s = 'x'", []any{nil, "x"}, false},
		{"n IS NULL", []any{nil, "x"}, true},
		{"n IS NOT NULL AND n BETWEEN 1 AND 2.5", []any{2.5, nil}, true},
		{"n NOT BETWEEN 1 AND 2", []any{int64(3), nil}, true},
		{"s IN ('a', 'b')", []any{nil, "b"}, true},
		{"s NOT IN ('a', 'b')", []any{nil, nil}, false},
		{"s LIKE 'ab%c_'", []any{nil, "abxxcd"}, true},
		{"s LIKE 'AB%'", []any{nil, "abc"}, false},    // case counts
		{"s NOT LIKE 'a.c'", []any{nil, "abc"}, true}, // '.' is literal
		{"n = 9007199254740993", []any{int64(9007199254740993), nil}, true},
		{"n <> 1", []any{nil, nil}, false},
	}
	for _, tt := range tests {
		f, err := parseFilter(tt.expr, cols)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		byName := map[string]any{"n": tt.row[0], "s": tt.row[1]}
		var row []any // the values of the columns the filter reads, in its order
		for _, c := range f.Columns {
			row = append(row, byName[c])
		}
		if got := f.Eval(row); got != tt.want {
			t.Errorf("%s on %v = %v, want %v", tt.expr, tt.row, got, tt.want)
		}
	}
}
