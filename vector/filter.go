package vector

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// maxFilterLen bounds a filter= expression; longer ones belong in a UDF.
const maxFilterLen = 4096

// maxFilterDepth bounds nesting (parentheses and NOT).
const maxFilterDepth = 32

// filter is a parsed and checked filter= expression.
type filter struct {
	// SQL is the expression re-written with quoted column names and literals, in
	// the subset of SQL that OGR SQL and SQLite (GeoPackage) read alike.
	SQL string
	// Columns are the columns the expression reads: OGR evaluates the filter on
	// features, so these must not be in the layer's ignored fields.
	Columns []string
	// Eval evaluates the expression on a row holding the values of Columns, in
	// their order, as SQL does: it returns true only when the expression is true,
	// not when it is false or unknown (a NULL compared). Values are nil (NULL),
	// int64 or float64 (numbers; booleans as 0 and 1) and string (text, and
	// dates and times as ISO 8601 text). Readers that are not OGR use it.
	Eval func(row []any) bool
}

// parseFilter checks a simple attribute expression against the layer's columns:
//
//	expr  := term { OR term }
//	term  := factor { AND factor }
//	factor:= NOT factor | '(' expr ')' | value op value | value [NOT] IN (lit, ...)
//	       | value IS [NOT] NULL | value [NOT] BETWEEN value AND value | value [NOT] LIKE 'text'
//	op    := = | != | <> | < | <= | > | >=
//	value := column | 'text' | number
//
// Columns are bare names or "double quoted"; text is 'single quoted' (” escapes
// a quote). Errors say what is wrong and where, for a 400.
func parseFilter(s string, cols []column) (*filter, error) {
	if len(s) > maxFilterLen {
		return nil, fmt.Errorf("the expression is over %d characters", maxFilterLen)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks, cols: cols, used: map[string]*int{}}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, fmt.Errorf("unexpected %s at character %d", t, t.pos+1)
	}
	f := &filter{SQL: n.sql, Eval: func(row []any) bool { return n.eval(row) == sqlTrue }}
	for _, c := range cols { // in the layer's order, so the result is stable
		if slot := p.used[c.Name]; slot != nil {
			*slot = len(f.Columns)
			f.Columns = append(f.Columns, c.Name)
		}
	}
	return f, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQuotedIdent
	tString
	tNumber
	tOp
	tLParen
	tRParen
	tComma
)

type token struct {
	kind tokKind
	text string // identifier, unquoted string, number or operator
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return "'" + t.text + "'"
	case tQuotedIdent:
		return `"` + t.text + `"`
	}
	return strconv.Quote(t.text)
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated %c at character %d", c, i+1)
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c { // doubled quote
						b.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			kind := tString
			if c == '"' {
				kind = tQuotedIdent
			}
			out = append(out, token{kind, b.String(), i})
			i = j + 1
		case c == '=' || c == '<' || c == '>' || c == '!':
			op := string(c)
			if i+1 < len(s) && (s[i+1] == '=' || (c == '<' && s[i+1] == '>')) {
				op += string(s[i+1])
			}
			if op == "!" {
				return nil, fmt.Errorf("unexpected '!' at character %d (use != or NOT)", i+1)
			}
			out = append(out, token{tOp, op, i})
			i += len(op)
		case c == '-' || c == '.' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				(s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			text := s[i:j]
			if _, err := strconv.ParseFloat(text, 64); err != nil {
				return nil, fmt.Errorf("%q at character %d is not a number", text, i+1)
			}
			out = append(out, token{tNumber, text, i})
			i = j
		case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, token{tIdent, s[i:j], i})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at character %d", c, i+1)
		}
	}
	return append(out, token{kind: tEOF, pos: len(s)}), nil
}

type filterParser struct {
	toks []token
	i    int
	cols []column
	used map[string]*int // column → its place in the row Eval reads
}

func (p *filterParser) peek() token { return p.toks[p.i] }
func (p *filterParser) next() token { t := p.toks[p.i]; p.i++; return t }

// keyword reports whether the next token is the keyword k, and consumes it.
func (p *filterParser) keyword(k string) bool {
	if t := p.peek(); t.kind == tIdent && strings.EqualFold(t.text, k) {
		p.i++
		return true
	}
	return false
}

var reserved = map[string]bool{"AND": true, "OR": true, "NOT": true, "IN": true, "IS": true, "NULL": true,
	"BETWEEN": true, "LIKE": true, "TRUE": true, "FALSE": true}

func (p *filterParser) expr(depth int) (node, error) {
	if depth > maxFilterDepth {
		return node{}, fmt.Errorf("the expression nests deeper than %d", maxFilterDepth)
	}
	left, err := p.term(depth)
	if err != nil {
		return node{}, err
	}
	for p.keyword("OR") {
		right, err := p.term(depth)
		if err != nil {
			return node{}, err
		}
		left = orNode(left, right)
	}
	return left, nil
}

func (p *filterParser) term(depth int) (node, error) {
	left, err := p.factor(depth)
	if err != nil {
		return node{}, err
	}
	for p.keyword("AND") {
		right, err := p.factor(depth)
		if err != nil {
			return node{}, err
		}
		left = andNode(left, right)
	}
	return left, nil
}

// operand is a column or a literal with the kind of value it holds.
type operand struct {
	sql  string
	kind valueKind
	col  string          // column name, "" for literals
	get  func([]any) any // its value in a row
}

func (p *filterParser) factor(depth int) (node, error) {
	if depth > maxFilterDepth {
		return node{}, fmt.Errorf("the expression nests deeper than %d", maxFilterDepth)
	}
	if p.keyword("NOT") {
		f, err := p.factor(depth + 1)
		if err != nil {
			return node{}, err
		}
		return notNode("(NOT "+f.sql+")", f), nil
	}
	if p.peek().kind == tLParen {
		p.next()
		e, err := p.expr(depth + 1)
		if err != nil {
			return node{}, err
		}
		if t := p.next(); t.kind != tRParen {
			return node{}, fmt.Errorf("want ) at character %d, got %s", t.pos+1, t)
		}
		return e, nil
	}
	left, err := p.operand()
	if err != nil {
		return node{}, err
	}
	if p.keyword("IS") {
		not := p.keyword("NOT")
		if !p.keyword("NULL") {
			t := p.peek()
			return node{}, fmt.Errorf("want NULL after IS at character %d, got %s", t.pos+1, t)
		}
		if not {
			return node{"(" + left.sql + " IS NOT NULL)", func(r []any) tri { return triOf(left.get(r) != nil) }}, nil
		}
		return node{"(" + left.sql + " IS NULL)", func(r []any) tri { return triOf(left.get(r) == nil) }}, nil
	}
	not := ""
	if p.keyword("NOT") {
		not = "NOT "
	}
	var n node
	switch {
	case p.keyword("IN"):
		if t := p.next(); t.kind != tLParen {
			return node{}, fmt.Errorf("want ( after IN at character %d, got %s", t.pos+1, t)
		}
		var items []string
		var values []any
		for {
			lit, err := p.operand()
			if err != nil {
				return node{}, err
			}
			if lit.col != "" {
				return node{}, fmt.Errorf("IN takes a list of numbers or 'text', got the column %s", lit.sql)
			}
			if err := comparable(left, lit); err != nil {
				return node{}, err
			}
			items = append(items, lit.sql)
			values = append(values, lit.get(nil))
			t := p.next()
			if t.kind == tRParen {
				break
			}
			if t.kind != tComma {
				return node{}, fmt.Errorf("want , or ) in the IN list at character %d, got %s", t.pos+1, t)
			}
		}
		n = node{"(" + left.sql + " " + not + "IN (" + strings.Join(items, ", ") + "))", func(r []any) tri {
			v := left.get(r)
			if v == nil {
				return sqlNull
			}
			for _, x := range values {
				if c, ok := compareValues(v, x); ok && c == 0 {
					return sqlTrue
				}
			}
			return sqlFalse
		}}
	case p.keyword("BETWEEN"):
		lo, err := p.operand()
		if err != nil {
			return node{}, err
		}
		if !p.keyword("AND") {
			t := p.peek()
			return node{}, fmt.Errorf("want AND in BETWEEN at character %d, got %s", t.pos+1, t)
		}
		hi, err := p.operand()
		if err != nil {
			return node{}, err
		}
		for _, o := range []operand{lo, hi} {
			if err := comparable(left, o); err != nil {
				return node{}, err
			}
		}
		n = node{"(" + left.sql + " " + not + "BETWEEN " + lo.sql + " AND " + hi.sql + ")",
			andNode(compareNode(left, ">=", lo), compareNode(left, "<=", hi)).eval}
	case p.keyword("LIKE"):
		pat := p.next()
		if pat.kind != tString {
			return node{}, fmt.Errorf("want a 'pattern' after LIKE at character %d, got %s", pat.pos+1, pat)
		}
		if left.kind != kindText {
			return node{}, fmt.Errorf("LIKE needs a text column, got %s (%s)", left.sql, left.kind)
		}
		re := likePattern(pat.text)
		n = node{"(" + left.sql + " " + not + "LIKE " + quoteString(pat.text) + ")", func(r []any) tri {
			s, ok := left.get(r).(string)
			if !ok {
				return sqlNull
			}
			return triOf(re.MatchString(s))
		}}
	case not != "":
		t := p.peek()
		return node{}, fmt.Errorf("want IN, BETWEEN or LIKE after NOT at character %d, got %s", t.pos+1, t)
	default:
		op := p.next()
		if op.kind != tOp {
			return node{}, fmt.Errorf("want a comparison (=, !=, <, <=, >, >=, IN, LIKE, BETWEEN, IS NULL) at character %d, got %s", op.pos+1, op)
		}
		right, err := p.operand()
		if err != nil {
			return node{}, err
		}
		if left.col == "" && right.col == "" {
			return node{}, fmt.Errorf("a comparison needs a column, got %s %s %s", left.sql, op.text, right.sql)
		}
		if err := comparable(left, right); err != nil {
			return node{}, err
		}
		sym := op.text
		switch sym {
		case "==":
			sym = "="
		case "!=":
			sym = "<>"
		}
		return compareNode(left, sym, right), nil
	}
	if not != "" {
		return notNode(n.sql, n), nil
	}
	return n, nil
}

func (p *filterParser) operand() (operand, error) {
	t := p.next()
	switch t.kind {
	case tNumber:
		var v any
		if n, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			v = n
		} else {
			v, _ = strconv.ParseFloat(t.text, 64)
		}
		return operand{sql: number(t.text), kind: kindNumber, get: func([]any) any { return v }}, nil
	case tString:
		v := t.text
		return operand{sql: quoteString(t.text), kind: kindText, get: func([]any) any { return v }}, nil
	case tIdent, tQuotedIdent:
		if t.kind == tIdent && reserved[strings.ToUpper(t.text)] {
			return operand{}, fmt.Errorf("want a column, 'text' or a number at character %d, got %s", t.pos+1, strings.ToUpper(t.text))
		}
		c, ok := findColumn(p.cols, t.text)
		if !ok {
			return operand{}, fmt.Errorf("no column %q; columns: %s", t.text, columnNames(p.cols))
		}
		k := c.kind()
		if k == kindOther {
			return operand{}, fmt.Errorf("column %s is a %s: filters take number, text and date columns", c.Name, c.typeName())
		}
		slot := p.used[c.Name]
		if slot == nil {
			slot = new(int)
			p.used[c.Name] = slot
		}
		return operand{sql: quoteIdent(c.Name), kind: k, col: c.Name, get: func(r []any) any { return r[*slot] }}, nil
	}
	return operand{}, fmt.Errorf("want a column, 'text' or a number at character %d, got %s", t.pos+1, t)
}

// comparable checks that two operands hold the same kind of value: OGR refuses
// to compare a number with text, and the user should hear why.
func comparable(a, b operand) error {
	ok := a.kind == b.kind || a.kind == kindDate && b.kind == kindText || a.kind == kindText && b.kind == kindDate
	if ok {
		return nil
	}
	describe := func(o operand) string {
		if o.col != "" {
			return fmt.Sprintf("column %s (%s)", o.col, o.kind)
		}
		return fmt.Sprintf("%s (%s)", o.sql, o.kind)
	}
	return fmt.Errorf("cannot compare %s with %s", describe(a), describe(b))
}

func quoteIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// number writes a numeric literal both OGR SQL and SQLite read: integers as
// they are, other numbers in plain or exponent form.
func number(text string) string {
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return strconv.FormatInt(n, 10)
	}
	f, _ := strconv.ParseFloat(text, 64)
	s := strconv.FormatFloat(f, 'e', -1, 64)
	if a := math.Abs(f); a == 0 || a >= 1e-4 && a < 1e15 {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if !strings.ContainsAny(s, ".e") {
		s += ".0" // a float literal stays a float (1e20 is beyond int64)
	}
	return s
}

// tri is SQL's three-valued logic: a comparison with NULL is unknown.
type tri int8

const (
	sqlFalse tri = iota
	sqlTrue
	sqlNull
)

func triOf(b bool) tri {
	if b {
		return sqlTrue
	}
	return sqlFalse
}

// node is a parsed sub-expression: its SQL text and its evaluation.
type node struct {
	sql  string
	eval func(row []any) tri
}

func notNode(sql string, n node) node {
	return node{sql, func(r []any) tri {
		switch n.eval(r) {
		case sqlTrue:
			return sqlFalse
		case sqlFalse:
			return sqlTrue
		}
		return sqlNull
	}}
}

func andNode(a, b node) node { return junction(a, "AND", b, sqlFalse) }

func orNode(a, b node) node { return junction(a, "OR", b, sqlTrue) }

// junction is AND (decided by a false side) or OR (decided by a true side);
// otherwise unknown if either side is, else the other value.
func junction(a node, op string, b node, decides tri) node {
	other := sqlTrue
	if decides == sqlTrue {
		other = sqlFalse
	}
	return node{"(" + a.sql + " " + op + " " + b.sql + ")", func(r []any) tri {
		x := a.eval(r)
		if x == decides {
			return decides
		}
		y := b.eval(r)
		if y == decides {
			return decides
		}
		if x == sqlNull || y == sqlNull {
			return sqlNull
		}
		return other
	}}
}

func compareNode(a operand, op string, b operand) node {
	test := map[string]func(int) bool{
		"=": func(c int) bool { return c == 0 }, "<>": func(c int) bool { return c != 0 },
		"<": func(c int) bool { return c < 0 }, "<=": func(c int) bool { return c <= 0 },
		">": func(c int) bool { return c > 0 }, ">=": func(c int) bool { return c >= 0 },
	}[op]
	return node{"(" + a.sql + " " + op + " " + b.sql + ")", func(r []any) tri {
		c, ok := compareValues(a.get(r), b.get(r))
		if !ok {
			return sqlNull
		}
		return triOf(test(c))
	}}
}

// compareValues orders two row values: integers exactly, other numbers as
// float64, text byte by byte (as SQLite's default collation). ok is false when
// either is NULL (or NaN) or they are of different kinds.
func compareValues(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp.Compare(x, y), true
		case float64:
			return compareFloats(float64(x), y)
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return compareFloats(x, float64(y))
		case float64:
			return compareFloats(x, y)
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), true
		}
	}
	return 0, false
}

func compareFloats(x, y float64) (int, bool) {
	if math.IsNaN(x) || math.IsNaN(y) {
		return 0, false
	}
	return cmp.Compare(x, y), true
}

// likePattern compiles a LIKE pattern: % is any run of characters, _ one
// character, case counts (as in OGR SQL since GDAL 3.1; SQLite, and so a
// GeoPackage, ignores the case of ASCII letters).
func likePattern(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	for _, r := range pat {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
