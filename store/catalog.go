package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

var errEmptyName = errors.New("store: empty UDF name")

// hashHex is the sha256 of s in hex.
func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// udfChange is the Data of a ChangeUDF change.
type udfChange struct {
	Version      int  `json:"version,omitempty"`
	RestoredFrom int  `json:"restored_from,omitempty"`
	Deleted      bool `json:"deleted,omitempty"`
}

func (c udfChange) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Author is who writes a version: its name (the version's author, and the
// owner of a UDF it creates) and whether it may change UDFs of other owners
// (an admin).
type Author struct {
	Name  string
	Admin bool
}

// NotOwnerError is the error of a save or restore by an author who neither
// owns the UDF nor is an admin; it wraps ErrNotOwner.
type NotOwnerError struct {
	Name, Owner string
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("UDF %s belongs to %s", e.Name, e.Owner)
}

func (e *NotOwnerError) Unwrap() error { return ErrNotOwner }

// SaveUDF saves code and meta as the next version of UDF name: version 1
// when name is new (its Owner is then by.Name, and stays so), n+1 otherwise.
// A UDF of another owner is changed only by an admin: otherwise nothing is
// written and the error is a *NotOwnerError. The owner is checked in the
// transaction that writes, so that of two authors saving a new name at once
// one creates it and the other is refused. The save and its ChangeUDF change
// commit together; concurrent saves of one name get distinct versions.
func (s *Store) SaveUDF(ctx context.Context, name string, by Author, code string, meta Meta) (UDF, error) {
	if name == "" {
		return UDF{}, errEmptyName
	}
	var u UDF
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = s.saveTx(ctx, tx, name, by, code, meta, 0)
		return err
	})
	return u, err
}

// saveTx writes the next version of name in tx, and its change, if by may.
func (s *Store) saveTx(ctx context.Context, tx *sql.Tx, name string, by Author, code string, meta Meta, restoredFrom int) (UDF, error) {
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return UDF{}, fmt.Errorf("store: encoding the meta of %s: %w", name, err)
	}
	at := now()
	u := UDF{Name: name, Code: code, CodeHash: hashHex(code), Author: by.Name, UpdatedAt: at}
	// One statement makes the UDF or bumps its version, under the row's
	// lock: a concurrent save waits for this transaction and then bumps the
	// version this one wrote. Unless by is an admin, an existing row is
	// bumped only when by owns it; otherwise nothing is returned.
	owned := ""
	if !by.Admin {
		owned = ` WHERE udfs.owner = excluded.owner`
	}
	err = tx.QueryRowContext(ctx, `
		INSERT INTO udfs (name, owner, version, created_at, updated_at) VALUES ($1, $2, 1, $3, $3)
		ON CONFLICT (name) DO UPDATE SET version = udfs.version + 1, updated_at = excluded.updated_at`+owned+`
		RETURNING owner, version`, name, by.Name, s.ts(at)).Scan(&u.Owner, &u.Version)
	if errors.Is(err, sql.ErrNoRows) && !by.Admin {
		var owner string
		if err := tx.QueryRowContext(ctx, `SELECT owner FROM udfs WHERE name = $1`, name).Scan(&owner); err != nil {
			return UDF{}, fmt.Errorf("store: saving %s: reading its owner: %w", name, err)
		}
		return UDF{}, &NotOwnerError{Name: name, Owner: owner}
	}
	if err != nil {
		return UDF{}, fmt.Errorf("store: saving %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO udf_versions (name, version, code, code_hash, meta, author, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		name, u.Version, code, u.CodeHash, string(metaJSON), by.Name, s.ts(at)); err != nil {
		return UDF{}, fmt.Errorf("store: saving version %d of %s: %w", u.Version, name, err)
	}
	// Read back what is stored (the meta through JSON), as UDF would.
	if err := json.Unmarshal(metaJSON, &u.Meta); err != nil {
		return UDF{}, err
	}
	if _, err := s.recordTx(ctx, tx, ChangeUDF, name, udfChange{Version: u.Version, RestoredFrom: restoredFrom}.String(), at); err != nil {
		return UDF{}, err
	}
	return u, nil
}

const udfColumns = `u.name, u.owner, v.version, v.code, v.code_hash, v.meta, v.author, v.created_at`

func scanUDF(row interface{ Scan(...any) error }) (UDF, error) {
	var u UDF
	var meta string
	if err := row.Scan(&u.Name, &u.Owner, &u.Version, &u.Code, &u.CodeHash, &meta, &u.Author, timeCol{&u.UpdatedAt}); err != nil {
		return UDF{}, err
	}
	if err := decodeMeta(meta, &u.Meta); err != nil {
		return UDF{}, fmt.Errorf("store: the meta of %s version %d: %w", u.Name, u.Version, err)
	}
	return u, nil
}

func decodeMeta(s string, m *Meta) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), m)
}

// notFound turns sql.ErrNoRows into ErrNotFound, naming what.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// UDF returns the current version of UDF name, or ErrNotFound.
func (s *Store) UDF(ctx context.Context, name string) (UDF, error) {
	if name == "" {
		return UDF{}, errEmptyName
	}
	u, err := scanUDF(s.db.QueryRowContext(ctx, `SELECT `+udfColumns+`
		FROM udfs u JOIN udf_versions v ON v.name = u.name AND v.version = u.version
		WHERE u.name = $1`, name))
	if err != nil {
		return UDF{}, notFound(err, "UDF "+name)
	}
	return u, nil
}

// UDFs returns the current version of every UDF, sorted by name (byte-wise,
// whatever the database's collation).
func (s *Store) UDFs(ctx context.Context) ([]UDF, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+udfColumns+`
		FROM udfs u JOIN udf_versions v ON v.name = u.name AND v.version = u.version`)
	if err != nil {
		return nil, fmt.Errorf("store: listing UDFs: %w", err)
	}
	defer rows.Close()
	var out []UDF
	for rows.Next() {
		u, err := scanUDF(rows)
		if err != nil {
			return nil, fmt.Errorf("store: listing UDFs: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing UDFs: %w", err)
	}
	slices.SortFunc(out, func(a, b UDF) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteUDF removes UDF name with its versions and its tokens, and records a
// ChangeUDF change; ErrNotFound if there is no such UDF.
func (s *Store) DeleteUDF(ctx context.Context, name string) error {
	if name == "" {
		return errEmptyName
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The UDF's row first: it locks out concurrent saves and token
		// creations of name until this commits.
		var version int
		err := tx.QueryRowContext(ctx, `DELETE FROM udfs WHERE name = $1 RETURNING version`, name).Scan(&version)
		if err != nil {
			return notFound(err, "UDF "+name)
		}
		// ON DELETE CASCADE removes these too; explicit all the same.
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE udf = $1`, name); err != nil {
			return fmt.Errorf("store: deleting the tokens of %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM udf_versions WHERE name = $1`, name); err != nil {
			return fmt.Errorf("store: deleting the versions of %s: %w", name, err)
		}
		_, err = s.recordTx(ctx, tx, ChangeUDF, name, udfChange{Version: version, Deleted: true}.String(), now())
		return err
	})
}

// Versions lists the versions of UDF name, newest first; ErrNotFound if
// there is no such UDF.
func (s *Store) Versions(ctx context.Context, name string) ([]Version, error) {
	if name == "" {
		return nil, errEmptyName
	}
	rows, err := s.db.QueryContext(ctx, `SELECT version, code_hash, author, created_at, meta
		FROM udf_versions WHERE name = $1 ORDER BY version DESC`, name)
	if err != nil {
		return nil, fmt.Errorf("store: versions of %s: %w", name, err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var v Version
		var meta string
		if err := rows.Scan(&v.Version, &v.CodeHash, &v.Author, timeCol{&v.CreatedAt}, &meta); err != nil {
			return nil, fmt.Errorf("store: versions of %s: %w", name, err)
		}
		if err := decodeMeta(meta, &v.Meta); err != nil {
			return nil, fmt.Errorf("store: the meta of %s version %d: %w", name, v.Version, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: versions of %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("UDF %s: %w", name, ErrNotFound)
	}
	return out, nil
}

// udfVersion reads version n of name through q (the database or a
// transaction).
func (s *Store) udfVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string, n int) (UDF, error) {
	u, err := scanUDF(q.QueryRowContext(ctx, `SELECT `+udfColumns+`
		FROM udf_versions v JOIN udfs u ON u.name = v.name
		WHERE v.name = $1 AND v.version = $2`, name, n))
	if err != nil {
		return UDF{}, notFound(err, fmt.Sprintf("UDF %s version %d", name, n))
	}
	return u, nil
}

// UDFVersion returns version n of UDF name (UpdatedAt is when that version
// was saved); ErrNotFound if either is missing.
func (s *Store) UDFVersion(ctx context.Context, name string, n int) (UDF, error) {
	if name == "" {
		return UDF{}, errEmptyName
	}
	return s.udfVersion(ctx, s.db, name, n)
}

// Restore saves version n's code and meta as the new current version of
// name, by by; ErrNotFound if version n does not exist, a *NotOwnerError if
// by may not change name (as SaveUDF).
func (s *Store) Restore(ctx context.Context, name string, n int, by Author) (UDF, error) {
	if name == "" {
		return UDF{}, errEmptyName
	}
	var u UDF
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, err := s.udfVersion(ctx, tx, name, n)
		if err != nil {
			return err
		}
		u, err = s.saveTx(ctx, tx, name, by, old.Code, old.Meta, n)
		return err
	})
	return u, err
}
