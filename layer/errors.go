package layer

import (
	"errors"
	"fmt"
)

// Kind classifies a failure, so that every transport answers with an honest
// status (web maps kinds to HTTP statuses).
type Kind int

// Kinds of failure.
const (
	Internal     Kind = iota // a bug or an unexpected failure: 500
	BadRequest               // the caller's mistake: 400
	NotFound                 // unknown layer, tile outside zooms or bounds: 404
	TooLarge                 // request too large: 413
	WorkerDied               // the process running the UDF died: 502
	Unavailable              // source missing or server overloaded: 503
	Timeout                  // the call ran out of time: 504
	Failed                   // the UDF raised or returned something unusable: 500 with its traceback
	Unauthorized             // a route that needs a token got none: 401
	Forbidden                // the token does not grant this: 403
	TooMany                  // the client (or shared token) is over its rate limit: 429
	Conflict                 // the request clashes with the state: a name taken by another layer: 409
)

// Error is a failure with a kind, a message for the user and optional logs.
type Error struct {
	Kind Kind
	Msg  string
	Logs string
}

func (e *Error) Error() string { return e.Msg }

// Errorf builds an *Error of the given kind.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err; errors that are not *Error are Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}
