package bandmath

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// naive evaluates src at one pixel by walking its AST: the per-pixel
// interpreter the compiled programs are held to. Its semantics are written
// out here again, apart from the package's.
func naive(t testing.TB, src string, px map[int]float32) []float32 {
	t.Helper()
	var out []float32
	for _, part := range strings.Split(src, ";") {
		e, err := parser.ParseExpr(part)
		if err != nil {
			t.Fatalf("naive %q: %v", part, err)
		}
		out = append(out, walk(t, e, px))
	}
	return out
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

func walk(t testing.TB, e ast.Expr, px map[int]float32) float32 {
	nan := float32(math.NaN())
	switch x := e.(type) {
	case *ast.ParenExpr:
		return walk(t, x.X, px)
	case *ast.BasicLit:
		f, _ := strconv.ParseFloat(x.Value, 64)
		return float32(f)
	case *ast.Ident:
		n, _ := strconv.Atoi(x.Name[1:])
		return px[n]
	case *ast.UnaryExpr:
		v := walk(t, x.X, px)
		switch x.Op {
		case token.SUB:
			return -v
		case token.NOT:
			return b2f(v == 0)
		}
		return v
	case *ast.BinaryExpr:
		a, b := walk(t, x.X, px), walk(t, x.Y, px)
		switch x.Op {
		case token.ADD:
			return a + b
		case token.SUB:
			return a - b
		case token.MUL:
			return a * b
		case token.QUO:
			if b == 0 {
				return nan
			}
			return a / b
		case token.LSS:
			return b2f(a < b)
		case token.LEQ:
			return b2f(a <= b)
		case token.GTR:
			return b2f(a > b)
		case token.GEQ:
			return b2f(a >= b)
		case token.EQL:
			return b2f(a == b)
		case token.NEQ:
			return b2f(a != b)
		case token.LAND:
			return b2f(a != 0 && b != 0)
		case token.LOR:
			return b2f(a != 0 || b != 0)
		}
	case *ast.CallExpr:
		var args []float64
		for _, a := range x.Args {
			args = append(args, float64(walk(t, a, px)))
		}
		f := func(v float64) float32 { return float32(v) }
		switch strings.ToLower(x.Fun.(*ast.Ident).Name) {
		case "abs":
			return f(math.Abs(args[0]))
		case "sqrt":
			return f(math.Sqrt(args[0]))
		case "log":
			return f(math.Log(args[0]))
		case "log10":
			return f(math.Log10(args[0]))
		case "exp":
			return f(math.Exp(args[0]))
		case "pow":
			return f(math.Pow(float64(float32(args[0])), float64(float32(args[1]))))
		case "min", "max":
			v := float32(args[0])
			for _, a := range args[1:] {
				w := float32(a)
				switch {
				case math.IsNaN(float64(v)) || math.IsNaN(float64(w)):
					v = nan
				case strings.ToLower(x.Fun.(*ast.Ident).Name) == "min" && w < v:
					v = w
				case strings.ToLower(x.Fun.(*ast.Ident).Name) == "max" && w > v:
					v = w
				}
			}
			return v
		case "where":
			if args[0] != 0 {
				return float32(args[1])
			}
			return float32(args[2])
		}
	}
	t.Fatalf("naive: unexpected %T", e)
	return 0
}

// same reports whether two results agree: both NaN, or equal within a
// relative 1e-6 (the loops and the interpreter do the same float32
// operations in the same order; the margin is for FMA on some machines).
func same(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	if a == b {
		return true
	}
	d := math.Abs(float64(a) - float64(b))
	return d <= 1e-6*math.Max(math.Abs(float64(a)), math.Abs(float64(b)))
}

// check evaluates src over the pixels of bands (band b at bands[b-1]) and
// compares each pixel with the naive interpreter.
func check(t *testing.T, src string, bands [][]float32) {
	t.Helper()
	p, err := Parse(src, len(bands))
	if err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	n := len(bands[0])
	var in [][]float32
	for _, b := range p.Bands() {
		in = append(in, bands[b-1])
	}
	out := make([][]float32, p.Outputs())
	for i := range out {
		out[i] = make([]float32, n)
	}
	if err := p.Eval(in, out); err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	bad := 0
	for i := 0; i < n; i++ {
		px := map[int]float32{}
		for b := range bands {
			px[b+1] = bands[b][i]
		}
		want := naive(t, src, px)
		for j := range want {
			if !same(out[j][i], want[j]) {
				if bad < 3 {
					t.Errorf("%q output %d pixel %d (%v): got %v, want %v", src, j, i, px, out[j][i], want[j])
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%q: %d values differ", src, bad)
	}
}

// testBands are three bands with zeros, negatives, fractions, large values
// and a NaN among random values.
func testBands(n int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	special := []float32{0, 1, -1, 0.5, 255, -3.25, 1e6, 2}
	bands := make([][]float32, 3)
	for b := range bands {
		bands[b] = make([]float32, n)
		for i := range bands[b] {
			if r.IntN(4) == 0 {
				bands[b][i] = special[r.IntN(len(special))]
			} else {
				bands[b][i] = float32(r.NormFloat64() * 100)
			}
		}
	}
	bands[1][n/2] = float32(math.NaN())
	return bands
}

func TestExamples(t *testing.T) {
	bands := testBands(512, 1)
	for _, src := range []string{
		"b1",
		"(b3-b1)/(b3+b1)",
		"(B3-b1)/(b3+B1)",
		"b1;b2;b3",
		"b1*2+1; -b2; 3",
		"1/(b1-b1)",
		"2-b1", "2/b1", "b1-2", "b1/2", "b1/0", "0/b1", "2*b1", "b1+2", "2+b1",
		"abs(b1) + sqrt(b2) - log(b3) + log10(abs(b1)) + exp(b2/100)",
		"min(b1, b2, b3) + max(b1, 0) + pow(b1, 2) + pow(2, b2/100)",
		"where(b1 > b2, b1, b2)",
		"where(b1 >= 0 && b2 < 0 || !(b3 != 1), 1, where(b1 == 0, 2, b3))",
		"where(b1 <= 0, 0, 1) + where(1, b1, b2) + where(0, b1, b2)",
		"min(1, 2) * b1 + max(b2, 3) + pow(b3, 0.5)",
		"1 + 2 * 3 - 4 / 5",
		"b1 + +b2 - -b3",
		"((((b1))))",
		"1e3 * b1 + .5 + 2.",
		"(b1 + b2) * (b1 - b2) / (b1 * b2 + b3) - (b3 - b1 * (b2 + (b3 - b1)))",
	} {
		t.Run(src, func(t *testing.T) { check(t, src, bands) })
	}
}

// randExpr builds a random expression of about depth d over bands b1..b3.
func randExpr(r *rand.Rand, d int) string {
	if d <= 0 || r.IntN(5) == 0 {
		switch r.IntN(4) {
		case 0:
			return fmt.Sprintf("%g", []float64{0, 1, 2, 0.5, 10, 3.25, 100}[r.IntN(7)])
		default:
			return fmt.Sprintf("b%d", 1+r.IntN(3))
		}
	}
	sub := func() string { return randExpr(r, d-1) }
	switch r.IntN(10) {
	case 0, 1, 2, 3:
		ops := []string{"+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "&&", "||"}
		return "(" + sub() + " " + ops[r.IntN(len(ops))] + " " + sub() + ")"
	case 4:
		return "-(" + sub() + ")"
	case 5:
		return "!" + sub()
	case 6:
		fs := []string{"abs", "sqrt", "log", "log10", "exp"}
		return fs[r.IntN(len(fs))] + "(" + sub() + ")"
	case 7:
		fs := []string{"min", "max"}
		args := []string{sub(), sub()}
		if r.IntN(2) == 0 {
			args = append(args, sub())
		}
		return fs[r.IntN(2)] + "(" + strings.Join(args, ", ") + ")"
	case 8:
		return "pow(" + sub() + ", " + sub() + ")"
	default:
		return "where(" + sub() + ", " + sub() + ", " + sub() + ")"
	}
}

// TestRandom holds random expressions, several outputs at a time, to the
// naive interpreter: register reuse, in-place operations, constant
// registers and folding must not change a value.
func TestRandom(t *testing.T) {
	bands := testBands(256, 2)
	r := rand.New(rand.NewPCG(42, 42))
	for i := 0; i < 400; i++ {
		var parts []string
		for range 1 + r.IntN(3) {
			parts = append(parts, randExpr(r, 1+r.IntN(6)))
		}
		src := strings.Join(parts, "; ")
		check(t, src, bands)
	}
}

// TestEvalFloat64 holds EvalFloat64 to Eval over random expressions, on a
// length that is not a whole number of chunks, with the outputs written over
// the inputs' memory where there are as many.
func TestEvalFloat64(t *testing.T) {
	n := 2*chunk + 371
	bands := testBands(n, 3)
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 300; i++ {
		var parts []string
		for range 1 + r.IntN(3) {
			parts = append(parts, randExpr(r, 1+r.IntN(6)))
		}
		src := strings.Join(parts, "; ")
		p, err := Parse(src, 3)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		in32 := make([][]float32, len(p.Bands()))
		in64 := make([][]float64, len(p.Bands()))
		for k, b := range p.Bands() {
			in32[k] = bands[b-1]
			in64[k] = make([]float64, n)
			for j, v := range bands[b-1] {
				in64[k][j] = float64(v)
			}
		}
		want := make([][]float32, p.Outputs())
		got := make([][]float64, p.Outputs())
		for k := range want {
			want[k] = make([]float32, n)
			if k < len(in64) {
				got[k] = in64[k] // over the input
			} else {
				got[k] = make([]float64, n)
			}
		}
		if err := p.Eval(in32, want); err != nil {
			t.Fatal(err)
		}
		var mask []uint8
		if i%2 == 1 { // with a mask: every 7th pixel without a value
			mask = make([]uint8, n)
			for j := range mask {
				if j%7 != 0 {
					mask[j] = 255
				}
			}
		}
		if err := p.EvalFloat64(in64, got, mask); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < n; j++ {
			valid := mask == nil || j%7 != 0
			for k := range want {
				w := want[k][j]
				valid = valid && w-w == 0
			}
			if mask != nil && (mask[j] != 0) != valid {
				t.Fatalf("%q pixel %d: mask %d, want a value %v", src, j, mask[j], valid)
			}
			for k := range want {
				w := want[k][j]
				if mask != nil && !valid {
					w = float32(math.NaN())
				}
				if g := got[k][j]; !same(float32(g), w) || g == g && float64(float32(g)) != g {
					t.Fatalf("%q output %d pixel %d: %v, Eval %v", src, k, j, g, w)
				}
			}
		}
	}
	if err := (&Program{}).EvalFloat64([][]float64{{1}}, nil, nil); err == nil {
		t.Error("a mismatched call: no error")
	}
}

func TestBandsRead(t *testing.T) {
	p, err := Parse("b7 + b2; b2 * B5", 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(p.Bands()); got != "[2 5 7]" {
		t.Errorf("bands %s, want [2 5 7]", got)
	}
	if p.Outputs() != 2 {
		t.Errorf("outputs %d, want 2", p.Outputs())
	}
}

// TestParseNames: names resolved by the caller (a STAC item's B08_b1) are
// the program's bands, numbered as the resolver says; its refusals are
// errors at the name, which unwrap to the resolver's error.
func TestParseNames(t *testing.T) {
	ids := map[string]int{"B04_b1": 7, "B08_b1": 3}
	refuse := errors.New("no such asset")
	resolve := func(name string) (int, error) {
		if id, ok := ids[name]; ok {
			return id, nil
		}
		return 0, refuse
	}
	p, err := ParseNames("(B08_b1-B04_b1)/(B08_b1+B04_b1); B04_b1*2", resolve)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(p.Bands()); got != "[3 7]" || p.Outputs() != 2 {
		t.Fatalf("bands %s, %d outputs; want [3 7], 2", got, p.Outputs())
	}
	in := [][]float32{{5, 1}, {3, 1}} // B08, B04
	out := [][]float32{make([]float32, 2), make([]float32, 2)}
	if err := p.Eval(in, out); err != nil {
		t.Fatal(err)
	}
	if out[0][0] != 0.25 || out[0][1] != 0 || out[1][0] != 6 {
		t.Errorf("got %v", out)
	}
	for src, want := range map[string]string{
		"B04_b1 + B05_b1": "expression: no such asset at 10",
		"B04_b1 + abs":    "expression: function abs without arguments at 10",
		"B04_b1 % 2":      `expression: unsupported token "%" at 8`,
	} {
		_, err := ParseNames(src, resolve)
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", src, err, want)
		}
	}
	if _, err := ParseNames("B05_b1", resolve); !errors.Is(err, refuse) {
		t.Errorf("the resolver's error does not unwrap: %v", err)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		src, want string
	}{
		{"b1+b9", `expression: unknown band b9 at 4 (this layer has bands 1..3)`},
		{"(b4-b9)", `expression: unknown band b4 at 2 (this layer has bands 1..3)`},
		{"b1%2", `expression: unsupported token "%" at 3`},
		{"b1 ^ b2", `expression: unsupported token "^" at 4`},
		{"b1 & b2", `expression: unsupported token "&" at 4`},
		{"b1 $ b2", `expression: unsupported token "$" at 4`},
		{"b1 << 2", `expression: unsupported token "<<" at 4`},
		{"b1; b2 % 3", `expression: unsupported token "%" at 8`},
		{"foo + b1", `expression: unknown name "foo" (bands are b1..b3; functions abs, sqrt, log, log10, exp, min, max, pow, where) at 1`},
		{"b0", `expression: unknown name "b0"`},
		{"nope(b1)", `expression: unknown function "nope"`},
		{"sqrt(b1, b2)", `expression: sqrt takes 1 argument, got 2 at 1`},
		{"where(b1, b2)", `expression: where takes 3 arguments, got 2 at 1`},
		{"min(b1)", `expression: min takes two or more arguments, got 1 at 1`},
		{"math.Sqrt(b1)", `expression: unsupported call math.Sqrt`},
		{"b1[0]", `expression: unsupported "b1[0]" at 1`},
		{"*b1", `expression: unsupported token "*" at 1`},
		{"b1 ** 2", `expression: unsupported token "**" (use pow(a, b)) at 4`},
		{"(b1", `expression: expected ')', found the end at 4`},
		{`"a"`, `expression: unsupported literal "a" at 1`},
		{"2i", `expression: unsupported literal 2i at 1`},
		{"0x10", `expression: unsupported number 0x10 at 1`},
		{"b1 +", `expression: expected operand, found the end at 5`},
		{"", `expression: empty at 1`},
		{"b1;", `expression: empty band expression at 4`},
		{"b1;;b2", `expression: empty band expression at 4`},
		{"min(b1...)", `expression: unsupported token "..."`},
		{"sqrt", `expression: function sqrt without arguments at 1`},
		{"éb1 % 2", `expression: unsupported token "%" at 5`},
		{strings.Repeat("b1+", 2000) + "b1", `expression: longer than 4096 bytes`},
		{strings.Repeat("b1;", 20) + "b1", `expression: more than 16 output bands`},
		{strings.Repeat("b1+", 300) + "b1", `expression: more than 256 operations`},
	} {
		_, err := Parse(c.src, 3)
		if err == nil {
			t.Errorf("%q: no error, want %s", c.src, c.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: got %s\nwant %s", c.src, err, c.want)
		}
		var e *Error
		var be *BandError
		if !errors.As(err, &e) && !errors.As(err, &be) {
			t.Errorf("%q: error of type %T", c.src, err)
		}
	}
}

// TestRegisters checks that registers are reused: a long sum needs two, and
// several outputs share them.
func TestRegisters(t *testing.T) {
	p, err := Parse("b1+b2+b3+b1*b2+b3*2; (b1-b2)/(b1+b2); b1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if p.ntemps > 3 {
		t.Errorf("%d registers, want at most 3", p.ntemps)
	}
	p, err = Parse("1+2*3; sqrt(16); where(1 > 0, 5, 6)", 3)
	if err != nil {
		t.Fatal(err)
	}
	if p.ntemps != 0 || len(p.Bands()) != 0 {
		t.Errorf("constant outputs: %d registers, bands %v; want none (folded)", p.ntemps, p.Bands())
	}
	out := [][]float32{make([]float32, 4), make([]float32, 4), make([]float32, 4)}
	if err := p.Eval(nil, out); err != nil {
		t.Fatal(err)
	}
	if out[0][3] != 7 || out[1][0] != 4 || out[2][2] != 5 {
		t.Errorf("constants: %v", out)
	}
}

func TestEvalShapes(t *testing.T) {
	p, err := Parse("b1+b2", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Eval([][]float32{make([]float32, 3)}, [][]float32{make([]float32, 3)}); err == nil {
		t.Error("one input for two bands: no error")
	}
	if err := p.Eval([][]float32{make([]float32, 3), make([]float32, 4)}, [][]float32{make([]float32, 3)}); err == nil {
		t.Error("inputs of different lengths: no error")
	}
}

// FuzzParse checks that no input makes Parse or Eval panic, and that what
// parses evaluates as the naive interpreter does.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"(b1-b2)/(b1+b2)", "where(b1>0,b2,b3);b1", "min(b1,2,3)", "b1%2", "pow(b2, -b1)", "!b1 || b2 && 0"} {
		f.Add(s)
	}
	bands := testBands(16, 3)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src, 3)
		if err != nil {
			return
		}
		var in [][]float32
		for _, b := range p.Bands() {
			in = append(in, bands[b-1])
		}
		out := make([][]float32, p.Outputs())
		for i := range out {
			out[i] = make([]float32, 16)
		}
		if err := p.Eval(in, out); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkEval(b *testing.B) {
	bands := testBands(256*256, 4)
	for _, src := range []string{"(b3-b1)/(b3+b1)", "where(b1 > 0, sqrt(b1) * 2 + 1, -b2); b3 / 255"} {
		b.Run(src, func(b *testing.B) {
			p, err := Parse(src, 3)
			if err != nil {
				b.Fatal(err)
			}
			var in [][]float32
			for _, k := range p.Bands() {
				in = append(in, bands[k-1])
			}
			out := make([][]float32, p.Outputs())
			for i := range out {
				out[i] = make([]float32, 256*256)
			}
			b.SetBytes(int64(4 * 256 * 256 * len(in)))
			b.ResetTimer()
			for b.Loop() {
				if err := p.Eval(in, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEvalFloat64 is BenchmarkEval on float64 bands, a chunk at a time,
// the first output written over the first input as a tile's expression is.
func BenchmarkEvalFloat64(b *testing.B) {
	bands := testBands(256*256, 4)
	for _, src := range []string{"(b3-b1)/(b3+b1)", "where(b1 > 0, sqrt(b1) * 2 + 1, -b2); b3 / 255"} {
		b.Run(src, func(b *testing.B) {
			p, err := Parse(src, 3)
			if err != nil {
				b.Fatal(err)
			}
			var in [][]float64
			for _, k := range p.Bands() {
				f := make([]float64, 256*256)
				for i, v := range bands[k-1] {
					f[i] = float64(v)
				}
				in = append(in, f)
			}
			out := make([][]float64, p.Outputs())
			for i := range out {
				out[i] = make([]float64, 256*256)
			}
			out[0] = in[0]
			mask := make([]uint8, 256*256)
			b.SetBytes(int64(8 * 256 * 256 * len(in)))
			b.ResetTimer()
			for b.Loop() {
				for i := range mask {
					mask[i] = 255
				}
				if err := p.EvalFloat64(in, out, mask); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
