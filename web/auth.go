package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"

	"github.com/udftiles/udftiles/layer"
)

// Bearer is a token the server accepts, known by its SHA-256 only.
type Bearer struct {
	Name  string   // what logs and errors call it
	Hash  [32]byte // SHA-256 of the token
	Admin bool     // admin routes; any bearer may use private layers
	// Editor may save UDFs to the catalog, delete and share its own, and run
	// drafts; admins may do all of it to any UDF.
	Editor bool
}

// HashToken returns a token's SHA-256 as the config stores it (hex).
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewBearer makes a Bearer from its name and hex SHA-256.
func NewBearer(name, sha256Hex string, admin bool) (Bearer, error) {
	b := Bearer{Name: name, Admin: admin}
	raw, err := hex.DecodeString(strings.ToLower(sha256Hex))
	if err != nil || len(raw) != len(b.Hash) {
		return b, layer.Errorf(layer.BadRequest, "bearer %s: want a SHA-256 as 64 hex digits", name)
	}
	copy(b.Hash[:], raw)
	return b, nil
}

// identify reads Authorization: Bearer <token>. It returns nil without the
// header (an anonymous request), the matching bearer, or a 401 for any other
// token. The token's hash is compared with every configured hash in constant
// time, so neither the answer's timing nor its content says how close a guess
// was; the token itself is never logged nor echoed.
func (s *api) identify(r *http.Request) (*Bearer, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, layer.Errorf(layer.Unauthorized, "the Authorization header must be: Bearer <token>")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	found := -1
	for i := range s.bearers {
		if subtle.ConstantTimeCompare(sum[:], s.bearers[i].Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, layer.Errorf(layer.Unauthorized, "unknown bearer token")
	}
	return &s.bearers[found], nil
}

// bearerNamed is the bearer of a job's owner: nil for an anonymous job, a 403
// for a name no longer in the config.
func (s *api) bearerNamed(name string) (*Bearer, error) {
	if name == "" {
		return nil, nil
	}
	for i := range s.bearers {
		if s.bearers[i].Name == name {
			return &s.bearers[i], nil
		}
	}
	return nil, layer.Errorf(layer.Forbidden, "the job's owner, bearer %s, is no longer in auth.bearer: its items cannot run as it", name)
}

// admin lets admin tokens through: 401 without one (or with an unknown
// token), 403 with a token that is not an admin's.
func (s *api) admin(r *http.Request) error {
	if !s.hasAdmin {
		return layer.Errorf(layer.Forbidden, "admin routes are off: add an admin token to auth.bearer in the config")
	}
	who, err := s.identify(r)
	if err != nil {
		return err
	}
	if who == nil {
		return layer.Errorf(layer.Unauthorized, "this route needs an admin token: Authorization: Bearer <token>")
	}
	if !who.Admin {
		return layer.Errorf(layer.Forbidden, "token %s is not an admin token", who.Name)
	}
	return nil
}

// editor lets editors and admins through: 401 without a token, 403 with a
// reader's. It returns the bearer.
func (s *api) editor(r *http.Request) (*Bearer, error) {
	who, err := s.identify(r)
	if err != nil {
		return nil, err
	}
	if who == nil {
		return nil, layer.Errorf(layer.Unauthorized, "this route needs an editor or admin token: Authorization: Bearer <token>")
	}
	if !who.Admin && !who.Editor {
		return nil, layer.Errorf(layer.Forbidden, "token %s is a reader's: saving, sharing and drafts need the editor or admin role", who.Name)
	}
	return who, nil
}

// mayUse reports whether the request may use the layer: public layers are
// anyone's, private ones need a known bearer token.
func (s *api) mayUse(r *http.Request, l *layer.Layer) error {
	if !l.Private {
		return nil
	}
	who, err := s.identify(r)
	if err != nil {
		return err
	}
	if who == nil {
		return layer.Errorf(layer.Unauthorized, "UDF %s is private: send Authorization: Bearer <token>", l.Name)
	}
	return nil
}

// layer finds the named layer the request may use, or answers with the error:
// 404 for a name that is not served, 401 for a private layer without a token.
func (s *api) layer(w http.ResponseWriter, r *http.Request, name string) (*layer.Layer, bool) {
	l, ok := s.Registry.Get(name)
	if !ok {
		writeError(w, r, layer.Errorf(layer.NotFound, "no UDF named %q (see /v1/udfs)", name))
		return nil, false
	}
	if err := s.mayUse(r, l); err != nil {
		writeError(w, r, err)
		return nil, false
	}
	return l, true
}

// visible lists the layers the request may see: private ones only with a
// known bearer token.
func (s *api) visible(r *http.Request) []*layer.Layer {
	all := s.Registry.List()
	who, _ := s.identify(r)
	if who != nil {
		return all
	}
	out := make([]*layer.Layer, 0, len(all))
	for _, l := range all {
		if !l.Private {
			out = append(out, l)
		}
	}
	return out
}

var sharedPath = regexp.MustCompile(`(/realtime-shared/)[^/]+`)

// logPath is the request's path as logs show it: a shared token, which is a
// credential in the path, is replaced by ***.
func logPath(r *http.Request) string {
	return sharedPath.ReplaceAllString(r.URL.Path, "${1}***")
}
