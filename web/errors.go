package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/udftiles/udftiles/udfhost"
)

type errorBody struct {
	Error string `json:"error"`
	Logs  string `json:"logs,omitempty"`
}

// writeError answers with the status of the error's kind and a JSON body.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	k := udfhost.KindOf(err)
	body := errorBody{Error: err.Error()}
	var ue *udfhost.Error
	if errors.As(err, &ue) {
		body.Logs = ue.Logs
	}
	if k == udfhost.Unavailable {
		w.Header().Set("Retry-After", strconv.Itoa(5))
	}
	if k == udfhost.Internal {
		body.Error = "internal error: " + err.Error()
	}
	if k == udfhost.Unauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="udftiles"`)
	}
	w.Header().Del("ETag")
	w.Header().Del("Cache-Control")
	w.Header().Set("Cache-Control", "no-store")
	writeJSONStatus(w, k.HTTPStatus(), body)
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
