package metrics

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Hidden is the label value Redact gives the series it folds together. It
// cannot be a layer's name (names start with a letter or a digit).
const Hidden = "(private)"

// Redact gathers from g and folds every series whose label named label has a
// value hide reports true for into one series per remaining label set, with
// that label set to Hidden. Counters, gauges and untyped values are added;
// histograms add their counts, sums and buckets; summaries their counts and
// sums (their quantiles cannot be added and are left out). Totals stay right
// while the hidden values (private layers' names) never appear.
func Redact(g prometheus.Gatherer, label string, hide func(value string) bool) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		for _, mf := range mfs {
			mf.Metric = fold(mf.Metric, label, hide)
		}
		return mfs, err
	})
}

func fold(ms []*dto.Metric, label string, hide func(string) bool) []*dto.Metric {
	out := ms[:0]
	merged := map[string]*dto.Metric{}
	for _, m := range ms {
		at := -1
		for i, lp := range m.Label {
			if lp.GetName() == label && hide(lp.GetValue()) {
				at = i
			}
		}
		if at < 0 {
			out = append(out, m)
			continue
		}
		// Gathered metrics share parts (their label pairs) with the live
		// collectors: the series folded are copies.
		m = proto.Clone(m).(*dto.Metric)
		m.Label[at].Value = prometheusString(Hidden)
		m.TimestampMs = nil
		if m.Counter != nil {
			m.Counter.Exemplar = nil
		}
		key := labelKey(m.Label)
		acc, ok := merged[key]
		if !ok {
			if m.Summary != nil {
				m.Summary.Quantile = nil
			}
			if m.Histogram != nil {
				for _, b := range m.Histogram.Bucket {
					b.Exemplar = nil
				}
				m.Histogram.Exemplars = nil
			}
			merged[key] = m
			out = append(out, m)
			continue
		}
		add(acc, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return labelKey(out[i].Label) < labelKey(out[j].Label) })
	return out
}

// add adds m's values to acc, a series of the same family and labels.
func add(acc, m *dto.Metric) {
	switch {
	case acc.Counter != nil && m.Counter != nil:
		acc.Counter.Value = prometheusFloat(acc.Counter.GetValue() + m.Counter.GetValue())
	case acc.Gauge != nil && m.Gauge != nil:
		acc.Gauge.Value = prometheusFloat(acc.Gauge.GetValue() + m.Gauge.GetValue())
	case acc.Untyped != nil && m.Untyped != nil:
		acc.Untyped.Value = prometheusFloat(acc.Untyped.GetValue() + m.Untyped.GetValue())
	case acc.Summary != nil && m.Summary != nil:
		acc.Summary.SampleCount = prometheusUint(acc.Summary.GetSampleCount() + m.Summary.GetSampleCount())
		acc.Summary.SampleSum = prometheusFloat(acc.Summary.GetSampleSum() + m.Summary.GetSampleSum())
	case acc.Histogram != nil && m.Histogram != nil:
		h, o := acc.Histogram, m.Histogram
		h.SampleCount = prometheusUint(h.GetSampleCount() + o.GetSampleCount())
		h.SampleSum = prometheusFloat(h.GetSampleSum() + o.GetSampleSum())
		byBound := map[float64]*dto.Bucket{}
		for _, b := range h.Bucket {
			byBound[b.GetUpperBound()] = b
		}
		for _, b := range o.Bucket {
			if hb, ok := byBound[b.GetUpperBound()]; ok {
				hb.CumulativeCount = prometheusUint(hb.GetCumulativeCount() + b.GetCumulativeCount())
			}
		}
	}
}

func labelKey(lps []*dto.LabelPair) string {
	var b strings.Builder
	for _, lp := range lps {
		b.WriteString(lp.GetName())
		b.WriteByte('=')
		b.WriteString(lp.GetValue())
		b.WriteByte(0)
	}
	return b.String()
}

func prometheusString(s string) *string  { return &s }
func prometheusFloat(f float64) *float64 { return &f }
func prometheusUint(u uint64) *uint64    { return &u }
