// Package bandmath evaluates band math expressions, TiTiler's expression=
// ((b4-b3)/(b4+b3), several output bands separated by ;), over whole tiles.
//
// An expression is parsed once, with go/parser, into an AST that is checked
// against a small grammar: the bands b1..bN (B1 too), numbers, + - * /, unary
// - + and !, comparisons < <= > >= == !=, && and ||, parentheses and the
// functions abs, sqrt, log, log10, exp, min, max, pow and where(cond, a, b).
// The AST is then compiled to a list of array operations over float32 slices
// of the tile's size: each operation is one tight loop over every pixel, its
// operands and result held in registers (slices) reused across operations
// and, through a pool, across tiles. Constant subexpressions are folded at
// compile time.
//
// Values are float32. Division by zero gives NaN, as do the logarithm and
// square root of negative numbers; callers mask NaN and infinite results.
// Comparisons and logical operators give 1 or 0; a condition is true when it
// is not 0 (NaN is true, as in numpy).
package bandmath

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what one request may ask for.
const (
	MaxLength  = 4096 // bytes of the whole expression
	MaxOutputs = 16   // output bands
	MaxOps     = 256  // array operations over all output bands
)

// Functions are the functions an expression may call, with their arity
// (-1: two or more).
var Functions = map[string]int{
	"abs": 1, "sqrt": 1, "log": 1, "log10": 1, "exp": 1,
	"min": -1, "max": -1, "pow": 2, "where": 3,
}

// FunctionNames lists Functions in a stable order, for messages and docs.
var FunctionNames = []string{"abs", "sqrt", "log", "log10", "exp", "min", "max", "pow", "where"}

// Error is a mistake in an expression: what is wrong and where (1-based
// character position in the whole expression).
type Error struct {
	Msg string
	Pos int
	Err error // the resolver's error (ParseNames), if it made this one
}

func (e *Error) Error() string {
	return fmt.Sprintf("expression: %s at %d", e.Msg, e.Pos)
}

func (e *Error) Unwrap() error { return e.Err }

// BandError names a band the raster does not have.
type BandError struct {
	Band, Bands, Pos int
}

func (e *BandError) Error() string {
	return fmt.Sprintf("expression: unknown band b%d at %d (this layer has bands 1..%d)", e.Band, e.Pos, e.Bands)
}

// Program is a compiled expression: Bands says which bands it reads, Eval
// computes its Outputs bands from them.
type Program struct {
	src    string
	outs   []output
	bands  []int       // bands read, 1-based, ascending
	slot   map[int]int // band → index in bands
	ntemps int         // temporary registers
	consts []float32   // constant registers, after the temporaries
	nops   int
}

type output struct {
	code []instr
	res  operand
}

type opcode uint8

const (
	opNeg opcode = iota
	opNot
	opAbs
	opSqrt
	opLog
	opLog10
	opExp
	// binary
	opAdd
	opSub
	opMul
	opDiv
	opPow
	opMin
	opMax
	opLt
	opLe
	opGt
	opGe
	opEq
	opNe
	opAnd
	opOr
	// ternary
	opWhere
)

type kind uint8

const (
	kConst kind = iota // an inline constant, k
	kBand              // an input band, idx into Eval's in
	kTemp              // a register, idx into the scratch registers
)

type operand struct {
	kind kind
	idx  int
	k    float32
}

type instr struct {
	op      opcode
	dst     int // register
	a, b, c operand
}

// Parse parses and compiles src for a raster of nbands bands. Its errors
// are *Error or *BandError and name the offending token and its position.
func Parse(src string, nbands int) (*Program, error) {
	return parse(src, nbands, nil)
}

// ParseNames is Parse for inputs named otherwise than b1..bN (a STAC item's
// B08_b1): resolve returns the input band an identifier names, numbered
// from 1 as the caller likes, or an error that says why the name is not
// one (it is reported with the identifier's position). The program's Bands
// are these numbers.
func ParseNames(src string, resolve func(name string) (int, error)) (*Program, error) {
	return parse(src, 0, resolve)
}

func parse(src string, nbands int, resolve func(string) (int, error)) (*Program, error) {
	if len(src) > MaxLength {
		return nil, &Error{Msg: fmt.Sprintf("longer than %d bytes", MaxLength), Pos: MaxLength}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Msg: "empty", Pos: 1}
	}
	c := &compiler{src: src, nbands: nbands, resolve: resolve, idents: map[string]int{}, p: &Program{src: src, slot: map[int]int{}}}
	// Newlines would end a Go statement mid-expression: spaces keep offsets.
	clean := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, src)
	parts := strings.Split(clean, ";")
	if len(parts) > MaxOutputs {
		return nil, &Error{Msg: fmt.Sprintf("more than %d output bands", MaxOutputs), Pos: 1}
	}
	// The bands read are known before the code is generated: their indices
	// into Eval's inputs follow the band order.
	trees := make([]ast.Expr, len(parts))
	offs := make([]int, len(parts))
	off := 0
	for i, part := range parts {
		offs[i] = off
		if strings.TrimSpace(part) == "" {
			return nil, &Error{Msg: "empty band expression", Pos: c.col(off + len(part) - len(strings.TrimLeft(part, " ")))}
		}
		c.base = off
		e, err := parser.ParseExpr(part)
		if err != nil {
			return nil, c.parseError(err, part)
		}
		if err := c.check(e); err != nil {
			return nil, err
		}
		trees[i] = e
		off += len(part) + 1
	}
	p := c.p
	slices.Sort(p.bands)
	for i, b := range p.bands {
		p.slot[b] = i
	}
	for i, e := range trees {
		c.base = offs[i]
		c.free = c.free[:0] // the previous outputs' registers are free again
		for r := p.ntemps - 1; r >= 0; r-- {
			c.free = append(c.free, r)
		}
		c.code = nil
		res := c.compile(e)
		if c.err != nil {
			return nil, c.err
		}
		p.outs = append(p.outs, output{code: c.code, res: res})
	}
	if p.nops > MaxOps {
		return nil, &Error{Msg: fmt.Sprintf("more than %d operations", MaxOps), Pos: 1}
	}
	return p, nil
}

// Bands are the raster's bands the expression reads, 1-based, ascending:
// Eval's inputs, in this order.
func (p *Program) Bands() []int { return slices.Clone(p.bands) }

// Outputs is the number of bands Eval writes (the ;-separated expressions).
func (p *Program) Outputs() int { return len(p.outs) }

// String is the expression as given.
func (p *Program) String() string { return p.src }

// Eval computes the output bands: in[i] holds the values of band Bands()[i],
// out[j] receives output band j; all of one length. It allocates nothing in
// the steady state: its registers come from a pool.
func (p *Program) Eval(in [][]float32, out [][]float32) error {
	if len(in) != len(p.bands) || len(out) != len(p.outs) {
		return fmt.Errorf("bandmath: %d inputs and %d outputs for an expression of %d bands and %d outputs", len(in), len(out), len(p.bands), len(p.outs))
	}
	n := -1
	for _, s := range slices.Concat(in, out) {
		if n >= 0 && len(s) != n {
			return fmt.Errorf("bandmath: bands of different lengths")
		}
		n = len(s)
	}
	if n < 0 {
		n = 0
	}
	regs := getRegs(n, p.ntemps+len(p.consts))
	defer putRegs(n, regs)
	for i, k := range p.consts {
		fill(regs[p.ntemps+i], k)
	}
	e := evaluator{in: in, regs: regs, nt: p.ntemps}
	for j, o := range p.outs {
		for _, ins := range o.code {
			e.exec(ins)
		}
		switch o.res.kind {
		case kConst:
			fill(out[j], o.res.k)
		default:
			copy(out[j], e.arr(o.res))
		}
	}
	return nil
}

// chunk is the pixels EvalFloat64 computes at a time: its float32
// registers, a few KiB each, stay in the CPU's first-level cache.
const chunk = 1024

// EvalFloat64 is Eval over float64 bands, as tiles hold them: a chunk of
// pixels at a time, the inputs are taken to float32, computed as Eval
// computes them, and the results widened into out; the tile's bands never
// exist as float32 arrays. An output may be an input's very memory (the
// results written over the values read): every input of a chunk is read
// before any output of it is written. Outputs must not share memory.
//
// mask, if not nil, says which pixels have a value (0: none), as a tile's
// mask does: a pixel whose result is NaN or infinite in any output loses
// its value, and every output of a pixel without one is NaN.
func (p *Program) EvalFloat64(in, out [][]float64, mask []uint8) error {
	if len(in) != len(p.bands) || len(out) != len(p.outs) {
		return fmt.Errorf("bandmath: %d inputs and %d outputs for an expression of %d bands and %d outputs", len(in), len(out), len(p.bands), len(p.outs))
	}
	n := -1
	for _, s := range slices.Concat(in, out) {
		if n >= 0 && len(s) != n {
			return fmt.Errorf("bandmath: bands of different lengths")
		}
		n = len(s)
	}
	if n >= 0 && mask != nil && len(mask) != n {
		return fmt.Errorf("bandmath: a mask of %d pixels for bands of %d", len(mask), n)
	}
	if n <= 0 {
		return nil
	}
	nr := p.ntemps + len(p.consts)
	scratch := getRegs(chunk, len(in)+nr)
	defer putRegs(chunk, scratch)
	full := scratch[len(in):] // the registers, at full length
	for i, k := range p.consts {
		fill(full[p.ntemps+i], k)
	}
	e := evaluator{in: make([][]float32, len(in)), regs: make([][]float32, nr), nt: p.ntemps}
	nan := math.NaN()
	for off := 0; off < n; off += chunk {
		m := min(chunk, n-off)
		for i, b := range in {
			src := b[off : off+m]
			f := scratch[i][:len(src)] // the same length: no bounds checks
			for j, v := range src {
				f[j] = float32(v)
			}
			e.in[i] = f
		}
		for r := range e.regs {
			e.regs[r] = full[r][:m]
		}
		var mk []uint8
		if mask != nil {
			mk = mask[off : off+m]
		}
		for j, o := range p.outs {
			for _, ins := range o.code {
				e.exec(ins)
			}
			d := out[j][off : off+m]
			if o.res.kind == kConst {
				k := o.res.k
				for i := range d {
					d[i] = float64(k)
				}
				if mk != nil && k-k != 0 { // NaN or infinite
					clear(mk)
				}
				continue
			}
			res := e.arr(o.res)[:m]
			d = d[:len(res)]
			if mk == nil {
				for i, v := range res {
					d[i] = float64(v)
				}
				continue
			}
			mk = mk[:len(res)]
			for i, v := range res {
				d[i] = float64(v)
				if v-v != 0 { // NaN or infinite
					mk[i] = 0
				}
			}
		}
		for i, v := range mk {
			if v == 0 {
				for _, d := range out {
					d[off+i] = nan
				}
			}
		}
	}
	return nil
}

// compiler checks and compiles one expression.
type compiler struct {
	src     string
	nbands  int
	resolve func(string) (int, error) // names other than b1..bN (ParseNames)
	idents  map[string]int            // the band each identifier read names
	base    int                       // offset of the current part in src
	p       *Program
	code    []instr
	free    []int // temporaries free for reuse
	err     error
}

// col is the 1-based character position of byte offset off of src.
func (c *compiler) col(off int) int {
	off = max(0, min(off, len(c.src)))
	return utf8.RuneCountInString(c.src[:off]) + 1
}

// at is the position of a node's token.
func (c *compiler) at(pos token.Pos) int { return c.col(c.base + int(pos) - 1) }

func (c *compiler) parseError(err error, part string) error {
	if list, ok := err.(scanner.ErrorList); ok && len(list) > 0 {
		e := list[0]
		off := max(0, e.Pos.Column-1) // one line: the column is the offset
		msg := e.Msg
		if strings.HasPrefix(msg, "illegal character") && off < len(part) {
			r, _ := utf8.DecodeRuneInString(part[off:])
			msg = fmt.Sprintf("unsupported token %q", string(r))
		}
		msg = strings.NewReplacer("'EOF'", "the end", "newline", "the end").Replace(msg)
		return &Error{Msg: msg, Pos: c.col(c.base + off)}
	}
	return &Error{Msg: err.Error(), Pos: c.col(c.base)}
}

// text is the source of a node, for messages.
func (c *compiler) text(n ast.Node) string {
	lo, hi := c.base+int(n.Pos())-1, c.base+int(n.End())-1
	if lo < 0 || hi > len(c.src) || lo > hi {
		return "?"
	}
	s := c.src[lo:hi]
	if len(s) > 20 {
		s = s[:20] + "..."
	}
	return s
}

var binaryOps = map[token.Token]opcode{
	token.ADD: opAdd, token.SUB: opSub, token.MUL: opMul, token.QUO: opDiv,
	token.LSS: opLt, token.LEQ: opLe, token.GTR: opGt, token.GEQ: opGe, token.EQL: opEq, token.NEQ: opNe,
	token.LAND: opAnd, token.LOR: opOr,
}

var calls = map[string]opcode{
	"abs": opAbs, "sqrt": opSqrt, "log": opLog, "log10": opLog10, "exp": opExp,
	"min": opMin, "max": opMax, "pow": opPow, "where": opWhere,
}

// band returns the band an identifier names, 0 for none.
func band(name string) int {
	if len(name) < 2 || (name[0] != 'b' && name[0] != 'B') || name[1] == '0' {
		return 0
	}
	n, err := strconv.Atoi(name[1:])
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// check validates the AST and records the bands it reads.
func (c *compiler) check(e ast.Expr) error {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return c.check(x.X)
	case *ast.BasicLit:
		if x.Kind != token.INT && x.Kind != token.FLOAT {
			return &Error{Msg: fmt.Sprintf("unsupported literal %s", x.Value), Pos: c.at(x.Pos())}
		}
		if _, err := strconv.ParseFloat(x.Value, 64); err != nil && !isRange(err) {
			return &Error{Msg: fmt.Sprintf("unsupported number %s", x.Value), Pos: c.at(x.Pos())}
		}
		return nil
	case *ast.Ident:
		if c.resolve != nil {
			return c.resolveIdent(x)
		}
		b := band(x.Name)
		if b == 0 {
			if _, ok := Functions[strings.ToLower(x.Name)]; ok {
				return &Error{Msg: fmt.Sprintf("function %s without arguments", x.Name), Pos: c.at(x.Pos())}
			}
			return &Error{Msg: fmt.Sprintf("unknown name %q (bands are b1..b%d; functions %s)", x.Name, c.nbands, strings.Join(FunctionNames, ", ")), Pos: c.at(x.Pos())}
		}
		if b > c.nbands {
			return &BandError{Band: b, Bands: c.nbands, Pos: c.at(x.Pos())}
		}
		c.use(x.Name, b)
		return nil
	case *ast.StarExpr: // b1 ** 2 parses as b1 * (*2)
		if p := c.base + int(x.Star) - 1; p > 0 && c.src[p-1] == '*' {
			return &Error{Msg: `unsupported token "**" (use pow(a, b))`, Pos: c.col(p - 1)}
		}
		return &Error{Msg: `unsupported token "*"`, Pos: c.at(x.Star)}
	case *ast.UnaryExpr:
		if x.Op != token.SUB && x.Op != token.ADD && x.Op != token.NOT {
			return &Error{Msg: fmt.Sprintf("unsupported token %q", x.Op.String()), Pos: c.at(x.OpPos)}
		}
		return c.check(x.X)
	case *ast.BinaryExpr:
		if _, ok := binaryOps[x.Op]; !ok {
			return &Error{Msg: fmt.Sprintf("unsupported token %q", x.Op.String()), Pos: c.at(x.OpPos)}
		}
		if err := c.check(x.X); err != nil {
			return err
		}
		return c.check(x.Y)
	case *ast.CallExpr:
		id, ok := x.Fun.(*ast.Ident)
		if !ok {
			return &Error{Msg: fmt.Sprintf("unsupported call %s (functions are %s)", c.text(x.Fun), strings.Join(FunctionNames, ", ")), Pos: c.at(x.Fun.Pos())}
		}
		name := strings.ToLower(id.Name)
		arity, ok := Functions[name]
		if !ok {
			return &Error{Msg: fmt.Sprintf("unknown function %q (functions are %s)", id.Name, strings.Join(FunctionNames, ", ")), Pos: c.at(id.Pos())}
		}
		if x.Ellipsis.IsValid() {
			return &Error{Msg: `unsupported token "..."`, Pos: c.at(x.Ellipsis)}
		}
		switch {
		case arity == -1 && len(x.Args) < 2:
			return &Error{Msg: fmt.Sprintf("%s takes two or more arguments, got %d", name, len(x.Args)), Pos: c.at(id.Pos())}
		case arity >= 0 && len(x.Args) != arity:
			return &Error{Msg: fmt.Sprintf("%s takes %d argument%s, got %d", name, arity, plural(arity), len(x.Args)), Pos: c.at(id.Pos())}
		}
		for _, a := range x.Args {
			if err := c.check(a); err != nil {
				return err
			}
		}
		return nil
	}
	return &Error{Msg: fmt.Sprintf("unsupported %q", c.text(e)), Pos: c.at(e.Pos())}
}

// resolveIdent checks an identifier with the caller's resolver.
func (c *compiler) resolveIdent(x *ast.Ident) error {
	if _, ok := Functions[strings.ToLower(x.Name)]; ok {
		return &Error{Msg: fmt.Sprintf("function %s without arguments", x.Name), Pos: c.at(x.Pos())}
	}
	b, err := c.resolve(x.Name)
	if err != nil {
		return &Error{Msg: err.Error(), Pos: c.at(x.Pos()), Err: err}
	}
	if b < 1 {
		return &Error{Msg: fmt.Sprintf("name %q resolves to band %d; bands count from 1", x.Name, b), Pos: c.at(x.Pos())}
	}
	c.use(x.Name, b)
	return nil
}

// use records that identifier name reads band b.
func (c *compiler) use(name string, b int) {
	c.idents[name] = b
	if _, ok := c.p.slot[b]; !ok {
		c.p.slot[b] = -1
		c.p.bands = append(c.p.bands, b)
	}
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// alloc returns a free register.
func (c *compiler) alloc() int {
	if n := len(c.free); n > 0 {
		r := c.free[n-1]
		c.free = c.free[:n-1]
		return r
	}
	c.p.ntemps++
	return c.p.ntemps - 1
}

func (c *compiler) release(ops ...operand) {
	for _, o := range ops {
		if o.kind == kTemp && o.idx >= 0 && !slices.Contains(c.free, o.idx) {
			c.free = append(c.free, o.idx)
		}
	}
}

// constReg turns a constant into a register filled once per Eval, for the
// operations without a constant form.
func (c *compiler) constReg(o operand) operand {
	if o.kind != kConst {
		return o
	}
	for i, k := range c.p.consts {
		if math.Float32bits(k) == math.Float32bits(o.k) {
			return operand{kind: kTemp, idx: -1 - i}
		}
	}
	c.p.consts = append(c.p.consts, o.k)
	return operand{kind: kTemp, idx: -len(c.p.consts)}
}

// emit adds an operation on its operands, or folds it when they are constants.
func (c *compiler) emit(op opcode, args ...operand) operand {
	allConst := true
	for _, a := range args {
		allConst = allConst && a.kind == kConst
	}
	if allConst {
		var k [3]float32
		for i, a := range args {
			k[i] = a.k
		}
		return operand{kind: kConst, k: scalar(op, k[0], k[1], k[2])}
	}
	var ins instr
	ins.op = op
	switch op {
	case opAdd, opMul:
		if args[0].kind == kConst { // commutative: the constant goes right
			args[0], args[1] = args[1], args[0]
		}
	case opSub, opDiv:
	default:
		for i := range args {
			args[i] = c.constReg(args[i])
		}
	}
	c.release(args...)
	ins.dst = c.alloc()
	ins.a = args[0]
	if len(args) > 1 {
		ins.b = args[1]
	}
	if len(args) > 2 {
		ins.c = args[2]
	}
	c.code = append(c.code, ins)
	c.p.nops++
	return operand{kind: kTemp, idx: ins.dst}
}

func (c *compiler) compile(e ast.Expr) operand {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return c.compile(x.X)
	case *ast.BasicLit:
		f, _ := strconv.ParseFloat(x.Value, 64)
		return operand{kind: kConst, k: float32(f)}
	case *ast.Ident:
		return operand{kind: kBand, idx: c.p.slot[c.idents[x.Name]]}
	case *ast.UnaryExpr:
		v := c.compile(x.X)
		switch x.Op {
		case token.SUB:
			return c.emit(opNeg, v)
		case token.NOT:
			return c.emit(opNot, v)
		}
		return v
	case *ast.BinaryExpr:
		a := c.compile(x.X)
		b := c.compile(x.Y)
		return c.emit(binaryOps[x.Op], a, b)
	case *ast.CallExpr:
		name := strings.ToLower(x.Fun.(*ast.Ident).Name)
		op := calls[name]
		args := make([]operand, len(x.Args))
		for i, a := range x.Args {
			args[i] = c.compile(a)
		}
		if op == opMin || op == opMax { // min(a, b, c) = min(min(a, b), c)
			v := args[0]
			for _, a := range args[1:] {
				v = c.emit(op, v, a)
			}
			return v
		}
		return c.emit(op, args...)
	}
	c.err = &Error{Msg: fmt.Sprintf("unsupported %q", c.text(e)), Pos: c.at(e.Pos())}
	return operand{}
}

// scalar is the value of an operation on constants: what the array loops
// compute for each pixel.
func scalar(op opcode, a, b, c float32) float32 {
	switch op {
	case opNeg:
		return -a
	case opNot:
		return truth(a == 0)
	case opAbs:
		return float32(math.Abs(float64(a)))
	case opSqrt:
		return float32(math.Sqrt(float64(a)))
	case opLog:
		return float32(math.Log(float64(a)))
	case opLog10:
		return float32(math.Log10(float64(a)))
	case opExp:
		return float32(math.Exp(float64(a)))
	case opAdd:
		return a + b
	case opSub:
		return a - b
	case opMul:
		return a * b
	case opDiv:
		return div(a, b)
	case opPow:
		return float32(math.Pow(float64(a), float64(b)))
	case opMin:
		return fmin(a, b)
	case opMax:
		return fmax(a, b)
	case opLt:
		return truth(a < b)
	case opLe:
		return truth(a <= b)
	case opGt:
		return truth(a > b)
	case opGe:
		return truth(a >= b)
	case opEq:
		return truth(a == b)
	case opNe:
		return truth(a != b)
	case opAnd:
		return truth(a != 0 && b != 0)
	case opOr:
		return truth(a != 0 || b != 0)
	case opWhere:
		if a != 0 {
			return b
		}
		return c
	}
	panic("bandmath: unknown operation")
}

var nan32 = float32(math.NaN())

func truth(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

func div(a, b float32) float32 {
	if b == 0 {
		return nan32
	}
	return a / b
}

// fmin and fmax propagate NaN, as numpy's minimum and maximum do.
func fmin(a, b float32) float32 {
	switch {
	case a != a || b != b:
		return nan32
	case b < a:
		return b
	}
	return a
}

func fmax(a, b float32) float32 {
	switch {
	case a != a || b != b:
		return nan32
	case b > a:
		return b
	}
	return a
}
