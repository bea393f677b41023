// Package store is the server's database: the catalog of UDFs saved at run
// time (every save a version), their share tokens, drafts run from the
// Workbench, and a change log every replica follows. It runs on an embedded
// SQLite file (the default) or on PostgreSQL when replicas share it; the
// schema is migrated at start-up with versioned migrations.
package store

import (
	"errors"
	"time"
)

// Errors callers map to statuses.
var (
	ErrNotFound = errors.New("not found")
	// ErrNotOwner: the UDF belongs to someone else (see NotOwnerError).
	ErrNotOwner = errors.New("only its owner or an admin may change it")
	// ErrRevoked: a revoked token cannot be changed.
	ErrRevoked = errors.New("the token is revoked")
	// ErrNewerSchema: the database was migrated by a newer server.
	ErrNewerSchema = errors.New("the database schema is newer than this server knows")
)

// Meta is what a save says about a UDF besides its code.
type Meta struct {
	Description string         `json:"description,omitempty"`
	CacheMaxAge string         `json:"cache_max_age,omitempty"` // "1h", "0s"; "" = the server's default
	Bounds      []float64      `json:"bounds,omitempty"`        // [minx, miny, maxx, maxy] in EPSG:4326
	MinZoom     *int           `json:"min_zoom,omitempty"`
	MaxZoom     *int           `json:"max_zoom,omitempty"`
	Parameters  map[string]any `json:"parameters,omitempty"` // default parameters
	Public      bool           `json:"public"`               // false: only bearer tokens (or share tokens) reach it
}

// UDF is one saved UDF at one version.
type UDF struct {
	Name      string    `json:"name"`
	Owner     string    `json:"owner"` // the bearer that created it
	Version   int       `json:"version"`
	Code      string    `json:"-"`
	CodeHash  string    `json:"code_hash"` // sha256 hex of Code
	Meta      Meta      `json:"meta"`
	Author    string    `json:"author"` // the bearer of this version
	UpdatedAt time.Time `json:"updated_at"`
}

// Version is one save of a UDF.
type Version struct {
	Version   int       `json:"version"`
	CodeHash  string    `json:"code_hash"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
	Meta      Meta      `json:"meta"`
}

// TokenOptions are chosen when a share token is made.
type TokenOptions struct {
	Enabled   bool       `json:"enabled"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Cache     bool       `json:"cache"`       // false: results of the token's calls are neither read from nor written to caches
	Public    bool       `json:"public_read"` // true: anyone holding the token may call it (the only mode today)
}

// Token is a share token, known by its hash only.
type Token struct {
	ID        string     `json:"id"`     // short random id, for listing and revoking
	UDF       string     `json:"udf"`    // the UDF name it runs
	Prefix    string     `json:"prefix"` // the first 8 characters of the token, to tell them apart
	Owner     string     `json:"owner"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	TokenOptions
}

// Usable says whether the token may be used at t.
func (t Token) Usable(at time.Time) bool {
	return t.Enabled && t.RevokedAt == nil && (t.ExpiresAt == nil || at.Before(*t.ExpiresAt))
}

// Draft is code run from the Workbench without saving, known by its hash.
type Draft struct {
	ID        string    `json:"id"` // sha256 hex of Code
	Code      string    `json:"-"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
}

// Change kinds of the change log.
const (
	ChangeUDF   = "udf"   // Name saved, restored or deleted
	ChangeToken = "token" // a token of UDF Name made or revoked
	ChangePurge = "purge" // cached results of Name purged; Data says what
)

// Change is one entry of the change log, in the order of Seq.
type Change struct {
	Seq  int64     `json:"seq"`
	Kind string    `json:"kind"`
	Name string    `json:"name"`
	Data string    `json:"data,omitempty"` // JSON, by kind
	At   time.Time `json:"at"`
}
