package web

import (
	"net/http"
	"testing"

	"github.com/udftiles/udftiles/layer"
)

// TestStatus: each kind of failure has its HTTP status; an unknown kind is a 500.
func TestStatus(t *testing.T) {
	for k, want := range map[layer.Kind]int{
		layer.BadRequest:   http.StatusBadRequest,
		layer.NotFound:     http.StatusNotFound,
		layer.TooLarge:     http.StatusRequestEntityTooLarge,
		layer.WorkerDied:   http.StatusBadGateway,
		layer.Unavailable:  http.StatusServiceUnavailable,
		layer.Timeout:      http.StatusGatewayTimeout,
		layer.Failed:       http.StatusInternalServerError,
		layer.Unauthorized: http.StatusUnauthorized,
		layer.Forbidden:    http.StatusForbidden,
		layer.TooMany:      http.StatusTooManyRequests,
		layer.Internal:     http.StatusInternalServerError,
		layer.Kind(99):     http.StatusInternalServerError,
	} {
		if got := status(k); got != want {
			t.Errorf("status(%d) = %d, want %d", k, got, want)
		}
	}
}
