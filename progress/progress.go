// Package progress reports the progress of long commands: a bar redrawn in
// place with rate and ETA on a terminal, plain lines every few seconds in logs.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar reports counts towards a total. It is safe for concurrent use.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int64 // 0 = unknown
	done     int64
	start    time.Time
	last     time.Time
	terminal bool
	every    time.Duration
}

// IsTerminal reports whether w is a terminal (a character device).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New starts a bar on w (nil: report nothing) for total units (0: unknown).
func New(w io.Writer, label string, total int64) *Bar {
	now := time.Now()
	b := &Bar{w: w, label: label, total: total, start: now, last: now, terminal: IsTerminal(w), every: 5 * time.Second}
	if b.terminal {
		b.every = 200 * time.Millisecond
	}
	return b
}

// Add counts n more units done.
func (b *Bar) Add(n int64) { b.Set(-1, n) }

// Set sets the units done (or, with done < 0, adds n) and redraws when due.
func (b *Bar) Set(done, n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if done >= 0 {
		b.done = done
	} else {
		b.done += n
	}
	if b.w == nil || time.Since(b.last) < b.every {
		return
	}
	b.last = time.Now()
	b.draw(false)
}

// Done draws the final state and ends the line.
func (b *Bar) Done() {
	if b == nil || b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(true)
}

func (b *Bar) draw(final bool) {
	el := time.Since(b.start)
	rate := float64(b.done) / max(el.Seconds(), 1e-9)
	var sb strings.Builder
	if b.terminal {
		sb.WriteString("\r\033[K")
	}
	sb.WriteString(b.label)
	if b.total > 0 {
		frac := min(1, float64(b.done)/float64(b.total))
		if b.terminal {
			const width = 30
			n := int(frac * width)
			sb.WriteString(" [" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]")
		}
		fmt.Fprintf(&sb, " %3.0f%% %s/%s", 100*frac, Count(b.done), Count(b.total))
	} else {
		fmt.Fprintf(&sb, " %s", Count(b.done))
	}
	fmt.Fprintf(&sb, " %s/s", Count(int64(rate)))
	switch {
	case final:
		fmt.Fprintf(&sb, " in %s", el.Round(100*time.Millisecond))
	case b.total > 0 && rate > 0:
		fmt.Fprintf(&sb, " ETA %s", time.Duration(float64(b.total-b.done)/rate*float64(time.Second)).Round(time.Second))
	}
	if !b.terminal || final {
		sb.WriteString("\n")
	}
	io.WriteString(b.w, sb.String())
}

// Count writes n with thousands separators.
func Count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
