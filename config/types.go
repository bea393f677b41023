package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time span written with a unit: 45s, 30m, 1h, 90d.
type Duration time.Duration

// ParseDuration reads a number followed by s, m, h or d. "0" and "0s" mean zero.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if len(s) < 2 {
		return 0, fmt.Errorf("want a number with a unit s, m, h or d (e.g. 90d), got %q", s)
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
	n, err := strconv.ParseFloat(s[:len(s)-1], 64)
	if unit == 0 || err != nil || n < 0 || n != n {
		return 0, fmt.Errorf("want a number with a unit s, m, h or d (e.g. 90d), got %q", s)
	}
	if d := n * float64(unit); d >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is longer than %s, the longest duration there is", s, time.Duration(math.MaxInt64).Truncate(24*time.Hour))
	}
	return time.Duration(n * float64(unit)), nil
}

// UnmarshalYAML reads "90d" style durations.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Rescale is one [min, max] pair per band; a single pair applies to every band.
type Rescale [][2]float64

// UnmarshalYAML accepts [min, max] or [[min, max], [min, max], ...].
func (r *Rescale) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: rescale: want [min, max] or a list of [min, max] per band", n.Line)
	}
	if len(n.Content) > 0 && n.Content[0].Kind == yaml.SequenceNode {
		var pairs [][]float64
		if err := n.Decode(&pairs); err != nil {
			return fmt.Errorf("line %d: rescale: want a list of [min, max] per band", n.Line)
		}
		for i, p := range pairs {
			if len(p) != 2 {
				return fmt.Errorf("line %d: rescale[%d]: want [min, max], got %v", n.Line, i, p)
			}
			*r = append(*r, [2]float64{p[0], p[1]})
		}
		return nil
	}
	var flat []float64
	if err := n.Decode(&flat); err != nil || len(flat) != 2 {
		return fmt.Errorf("line %d: rescale: want [min, max], got %d values", n.Line, len(n.Content))
	}
	*r = Rescale{{flat[0], flat[1]}}
	return nil
}
