package bandmath

import (
	"math"
	"sync"
)

// evaluator runs instructions over whole arrays.
type evaluator struct {
	in   [][]float32
	regs [][]float32 // temporaries, then constants
	nt   int
}

// arr is an operand's array; constants inline in an instruction have none.
func (e *evaluator) arr(o operand) []float32 {
	switch {
	case o.kind == kBand:
		return e.in[o.idx]
	case o.idx < 0: // a constant register
		return e.regs[e.nt-1-o.idx]
	}
	return e.regs[o.idx]
}

// exec runs one instruction: one loop over every pixel.
func (e *evaluator) exec(ins instr) {
	d := e.regs[ins.dst]
	a, b := ins.a, ins.b
	switch ins.op {
	case opAdd:
		if b.kind == kConst {
			addK(d, e.arr(a), b.k)
		} else {
			add(d, e.arr(a), e.arr(b))
		}
	case opMul:
		if b.kind == kConst {
			mulK(d, e.arr(a), b.k)
		} else {
			mul(d, e.arr(a), e.arr(b))
		}
	case opSub:
		switch {
		case a.kind == kConst:
			rsubK(d, e.arr(b), a.k)
		case b.kind == kConst:
			addK(d, e.arr(a), -b.k) // x - k == x + (-k) exactly
		default:
			sub(d, e.arr(a), e.arr(b))
		}
	case opDiv:
		switch {
		case a.kind == kConst:
			rdivK(d, e.arr(b), a.k)
		case b.kind == kConst:
			divK(d, e.arr(a), b.k)
		default:
			divide(d, e.arr(a), e.arr(b))
		}
	case opWhere:
		where(d, e.arr(a), e.arr(b), e.arr(ins.c))
	case opNeg, opNot, opAbs, opSqrt, opLog, opLog10, opExp:
		unary(ins.op, d, e.arr(a))
	default:
		binary(ins.op, d, e.arr(a), e.arr(b))
	}
}

func add(d, x, y []float32) {
	d, y = d[:len(x)], y[:len(x)]
	for i, v := range x {
		d[i] = v + y[i]
	}
}

func addK(d, x []float32, k float32) {
	d = d[:len(x)]
	for i, v := range x {
		d[i] = v + k
	}
}

func sub(d, x, y []float32) {
	d, y = d[:len(x)], y[:len(x)]
	for i, v := range x {
		d[i] = v - y[i]
	}
}

// rsubK is k - x.
func rsubK(d, x []float32, k float32) {
	d = d[:len(x)]
	for i, v := range x {
		d[i] = k - v
	}
}

func mul(d, x, y []float32) {
	d, y = d[:len(x)], y[:len(x)]
	for i, v := range x {
		d[i] = v * y[i]
	}
}

func mulK(d, x []float32, k float32) {
	d = d[:len(x)]
	for i, v := range x {
		d[i] = v * k
	}
}

func divide(d, x, y []float32) {
	d, y = d[:len(x)], y[:len(x)]
	for i, v := range x {
		if w := y[i]; w != 0 {
			d[i] = v / w
		} else {
			d[i] = nan32
		}
	}
}

func divK(d, x []float32, k float32) {
	d = d[:len(x)]
	if k == 0 {
		fill(d, nan32)
		return
	}
	for i, v := range x {
		d[i] = v / k
	}
}

// rdivK is k / x.
func rdivK(d, x []float32, k float32) {
	d = d[:len(x)]
	for i, v := range x {
		if v != 0 {
			d[i] = k / v
		} else {
			d[i] = nan32
		}
	}
}

func where(d, c, x, y []float32) {
	d, x, y = d[:len(c)], x[:len(c)], y[:len(c)]
	for i, v := range c {
		if v != 0 {
			d[i] = x[i]
		} else {
			d[i] = y[i]
		}
	}
}

func unary(op opcode, d, x []float32) {
	d = d[:len(x)]
	switch op {
	case opNeg:
		for i, v := range x {
			d[i] = -v
		}
	case opNot:
		for i, v := range x {
			d[i] = truth(v == 0)
		}
	case opAbs:
		for i, v := range x {
			d[i] = math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
		}
	case opSqrt:
		for i, v := range x {
			d[i] = float32(math.Sqrt(float64(v)))
		}
	case opLog:
		for i, v := range x {
			d[i] = float32(math.Log(float64(v)))
		}
	case opLog10:
		for i, v := range x {
			d[i] = float32(math.Log10(float64(v)))
		}
	case opExp:
		for i, v := range x {
			d[i] = float32(math.Exp(float64(v)))
		}
	}
}

func binary(op opcode, d, x, y []float32) {
	d, y = d[:len(x)], y[:len(x)]
	switch op {
	case opPow:
		for i, v := range x {
			d[i] = float32(math.Pow(float64(v), float64(y[i])))
		}
	case opMin:
		for i, v := range x {
			d[i] = fmin(v, y[i])
		}
	case opMax:
		for i, v := range x {
			d[i] = fmax(v, y[i])
		}
	case opLt:
		for i, v := range x {
			d[i] = truth(v < y[i])
		}
	case opLe:
		for i, v := range x {
			d[i] = truth(v <= y[i])
		}
	case opGt:
		for i, v := range x {
			d[i] = truth(v > y[i])
		}
	case opGe:
		for i, v := range x {
			d[i] = truth(v >= y[i])
		}
	case opEq:
		for i, v := range x {
			d[i] = truth(v == y[i])
		}
	case opNe:
		for i, v := range x {
			d[i] = truth(v != y[i])
		}
	case opAnd:
		for i, v := range x {
			d[i] = truth(v != 0 && y[i] != 0)
		}
	case opOr:
		for i, v := range x {
			d[i] = truth(v != 0 || y[i] != 0)
		}
	default:
		panic("bandmath: unknown operation")
	}
}

func fill(d []float32, k float32) {
	for i := range d {
		d[i] = k
	}
}

// regPools keep registers by length: a server evaluates many tiles of the
// same one or two sizes.
var regPools sync.Map // int → *sync.Pool of *[]float32

func regPool(n int) *sync.Pool {
	if p, ok := regPools.Load(n); ok {
		return p.(*sync.Pool)
	}
	p, _ := regPools.LoadOrStore(n, &sync.Pool{New: func() any { b := make([]float32, n); return &b }})
	return p.(*sync.Pool)
}

func getRegs(n, k int) [][]float32 {
	p := regPool(n)
	regs := make([][]float32, k)
	for i := range regs {
		regs[i] = *p.Get().(*[]float32)
	}
	return regs
}

func putRegs(n int, regs [][]float32) {
	p := regPool(n)
	for i := range regs {
		b := regs[i]
		p.Put(&b)
	}
}
