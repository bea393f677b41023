package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TokenPrefix begins every share token.
const TokenPrefix = "fsh_"

// tokenChange is the Data of a ChangeToken change.
type tokenChange struct {
	ID      string `json:"id"`
	Revoked bool   `json:"revoked,omitempty"`
	Updated bool   `json:"updated,omitempty"`
}

func (c tokenChange) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b)
}

// CreateToken makes a share token for UDF udf and returns it: plain, the
// token itself ("fsh_" and 32 hex digits from crypto/rand), which is not
// kept and cannot be read again, and t, what is kept (its sha256, an ID, the
// first 8 characters). A ChangeToken change commits with it. ErrNotFound if
// the UDF is not in the catalog.
func (s *Store) CreateToken(ctx context.Context, udf, owner string, o TokenOptions) (plain string, t Token, err error) {
	if udf == "" {
		return "", Token{}, errEmptyName
	}
	plain = TokenPrefix + randomHex(16)
	at := now()
	if o.ExpiresAt != nil {
		e := o.ExpiresAt.UTC().Truncate(time.Microsecond) // what is stored
		o.ExpiresAt = &e
	}
	t = Token{ID: randomHex(6), UDF: udf, Prefix: plain[:8], Owner: owner, CreatedAt: at, TokenOptions: o}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		// The row lock (shared) keeps a concurrent delete of the UDF out
		// until this commits.
		q := `SELECT 1 FROM udfs WHERE name = $1`
		if s.dialect == Postgres {
			q += ` FOR SHARE`
		}
		if err := tx.QueryRowContext(ctx, q, udf).Scan(&one); err != nil {
			return notFound(err, "UDF "+udf)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO tokens (id, hash, udf, prefix, owner, enabled, cache, public_read, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			t.ID, hashHex(plain), udf, t.Prefix, owner, o.Enabled, o.Cache, o.Public, s.nts(o.ExpiresAt), s.ts(at)); err != nil {
			return fmt.Errorf("store: creating a token of %s: %w", udf, err)
		}
		_, err := s.recordTx(ctx, tx, ChangeToken, udf, tokenChange{ID: t.ID}.String(), at)
		return err
	})
	if err != nil {
		return "", Token{}, err
	}
	return plain, t, nil
}

const tokenColumns = `id, udf, prefix, owner, created_at, revoked_at, enabled, expires_at, cache, public_read`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	err := row.Scan(&t.ID, &t.UDF, &t.Prefix, &t.Owner, timeCol{&t.CreatedAt}, nullTimeCol{&t.RevokedAt},
		&t.Enabled, nullTimeCol{&t.ExpiresAt}, &t.Cache, &t.Public)
	return t, err
}

// Tokens lists the tokens of UDF udf, revoked ones too, newest first. A UDF
// without tokens (or not in the catalog) has none: no error.
func (s *Store) Tokens(ctx context.Context, udf string) ([]Token, error) {
	if udf == "" {
		return nil, errEmptyName
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE udf = $1
		ORDER BY created_at DESC, id DESC`, udf)
	if err != nil {
		return nil, fmt.Errorf("store: tokens of %s: %w", udf, err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: tokens of %s: %w", udf, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tokens of %s: %w", udf, err)
	}
	return out, nil
}

// TokenByPlain finds a token by the token itself (through its hash);
// ErrNotFound if there is none. The caller checks Usable.
func (s *Store) TokenByPlain(ctx context.Context, plain string) (Token, error) {
	if !strings.HasPrefix(plain, TokenPrefix) {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hashHex(plain)))
	if err != nil {
		return Token{}, notFound(err, "token")
	}
	return t, nil
}

// RevokeToken revokes token id of UDF udf (once: revoking it again keeps the
// first RevokedAt) and records a ChangeToken change; ErrNotFound if udf has
// no such token.
func (s *Store) RevokeToken(ctx context.Context, udf, id string) error {
	if udf == "" {
		return errEmptyName
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		at := now()
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE udf = $1 AND id = $2`,
			udf, id, s.ts(at))
		if err != nil {
			return fmt.Errorf("store: revoking token %s of %s: %w", id, udf, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: revoking token %s of %s: %w", id, udf, err)
		} else if n == 0 {
			return fmt.Errorf("token %s of UDF %s: %w", id, udf, ErrNotFound)
		}
		_, err = s.recordTx(ctx, tx, ChangeToken, udf, tokenChange{ID: id, Revoked: true}.String(), at)
		return err
	})
}

// TokenUpdate changes the options of a token; nil fields are left as they
// are.
type TokenUpdate struct {
	Enabled *bool
	Cache   *bool
	// Expiry, when set, replaces the expiry: *Expiry nil means never.
	Expiry **time.Time
}

// UpdateToken changes the options of token id of UDF udf and records a
// ChangeToken change (every replica then reads the token again), and returns
// the token as stored. ErrNotFound if udf has no such token, ErrRevoked if it
// is revoked.
func (s *Store) UpdateToken(ctx context.Context, udf, id string, up TokenUpdate) (Token, error) {
	if udf == "" {
		return Token{}, errEmptyName
	}
	var t Token
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE udf = $1 AND id = $2`, udf, id))
		if err != nil {
			return notFound(err, fmt.Sprintf("token %s of UDF %s", id, udf))
		}
		if t.RevokedAt != nil {
			return fmt.Errorf("token %s of UDF %s: %w", id, udf, ErrRevoked)
		}
		if up.Enabled != nil {
			t.Enabled = *up.Enabled
		}
		if up.Cache != nil {
			t.Cache = *up.Cache
		}
		if up.Expiry != nil {
			t.ExpiresAt = nil
			if e := *up.Expiry; e != nil {
				x := e.UTC().Truncate(time.Microsecond)
				t.ExpiresAt = &x
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET enabled = $3, cache = $4, expires_at = $5 WHERE udf = $1 AND id = $2`,
			udf, id, t.Enabled, t.Cache, s.nts(t.ExpiresAt)); err != nil {
			return fmt.Errorf("store: changing token %s of %s: %w", id, udf, err)
		}
		_, err = s.recordTx(ctx, tx, ChangeToken, udf, tokenChange{ID: id, Updated: true}.String(), now())
		return err
	})
	if err != nil {
		return Token{}, err
	}
	return t, nil
}
