package config_test

import (
	"strings"
	"testing"

	"github.com/udftiles/udftiles/config"
)

// TestTrustProxyKeys: server.trust_proxy trusts X-Forwarded-* headers;
// limits.trust_proxy, its older spelling, still does; neither leaves them
// ignored.
func TestTrustProxyKeys(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want bool
	}{
		{"", false},
		{"server:\n  trust_proxy: true\n", true},
		{"limits:\n  trust_proxy: true\n", true},
		{"server:\n  trust_proxy: false\nlimits:\n  trust_proxy: false\n", false},
	} {
		cfg, err := config.Parse([]byte(c.yaml), "")
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got := cfg.TrustsProxy(); got != c.want {
			t.Errorf("%q: TrustsProxy %v, want %v", c.yaml, got, c.want)
		}
	}
}

// TestSecurityKeys: auth.metrics takes public, token or admin; limits.max_params
// at most 10,000, the most parameters Go reads from a query.
func TestSecurityKeys(t *testing.T) {
	for _, m := range []string{"public", "token", "admin"} {
		cfg, err := config.Parse([]byte("auth:\n  metrics: "+m+"\n"), "")
		if err != nil || cfg.Auth.Metrics != m {
			t.Errorf("auth.metrics %s: %v", m, err)
		}
	}
	for _, c := range []struct {
		yaml string
		want []string
	}{
		{"auth:\n  metrics: everyone\n", []string{"auth.metrics", "public, token, admin", `"everyone"`}},
		{"limits:\n  max_params: 20000\n", []string{"limits.max_params", "10000", "20000"}},
	} {
		_, err := config.Parse([]byte(c.yaml), "")
		if err == nil {
			t.Errorf("%q: no error", c.yaml)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not contain %q", c.yaml, err, w)
			}
		}
	}
}
