package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/udftiles/udftiles/layer"
)

type errorBody struct {
	Error string `json:"error"`
	Logs  string `json:"logs,omitempty"`
}

// writeError answers with the status of the error's kind and a JSON body.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	k := layer.KindOf(err)
	body := errorBody{Error: err.Error()}
	var ue *layer.Error
	if errors.As(err, &ue) {
		body.Logs = ue.Logs
	}
	if k == layer.Unavailable {
		w.Header().Set("Retry-After", strconv.Itoa(5))
	}
	if k == layer.Internal {
		body.Error = "internal error: " + err.Error()
	}
	if k == layer.Unauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="udftiles"`)
	}
	w.Header().Del("ETag")
	w.Header().Del("Cache-Control")
	w.Header().Set("Cache-Control", "no-store")
	writeJSONStatus(w, status(k), body)
}

// status maps a kind of failure to its HTTP status: the one place it is done.
func status(k layer.Kind) int {
	switch k {
	case layer.BadRequest:
		return http.StatusBadRequest
	case layer.NotFound:
		return http.StatusNotFound
	case layer.TooLarge:
		return http.StatusRequestEntityTooLarge
	case layer.WorkerDied:
		return http.StatusBadGateway
	case layer.Unavailable:
		return http.StatusServiceUnavailable
	case layer.Timeout:
		return http.StatusGatewayTimeout
	case layer.Failed:
		return http.StatusInternalServerError
	case layer.Unauthorized:
		return http.StatusUnauthorized
	case layer.Forbidden:
		return http.StatusForbidden
	case layer.TooMany:
		return http.StatusTooManyRequests
	case layer.Conflict:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
