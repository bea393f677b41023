package store

import (
	"context"
	"fmt"
	"time"
)

// SaveDraft keeps code run from the Workbench without saving, known by its
// hash (the Draft's ID), and returns it. Saving the same code again returns
// the draft saved first (its author and CreatedAt), and marks it used now:
// PruneDrafts goes by the last save, so that a draft still being run is kept.
func (s *Store) SaveDraft(ctx context.Context, author, code string) (Draft, error) {
	at := now()
	d := Draft{ID: hashHex(code)}
	err := s.writer.QueryRowContext(ctx, `
		INSERT INTO drafts (id, code, author, created_at, used_at) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (id) DO UPDATE SET used_at = excluded.used_at
		RETURNING code, author, created_at`, d.ID, code, author, s.ts(at)).Scan(&d.Code, &d.Author, timeCol{&d.CreatedAt})
	if err != nil {
		return Draft{}, fmt.Errorf("store: saving a draft: %w", err)
	}
	return d, nil
}

// Draft returns draft id; ErrNotFound if there is none (or it was pruned).
func (s *Store) Draft(ctx context.Context, id string) (Draft, error) {
	d := Draft{ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT code, author, created_at FROM drafts WHERE id = $1`, id).
		Scan(&d.Code, &d.Author, timeCol{&d.CreatedAt})
	if err != nil {
		return Draft{}, notFound(err, "draft "+id)
	}
	return d, nil
}

// TouchDraft marks draft id used at the time at (its tiles and runs use it).
func (s *Store) TouchDraft(ctx context.Context, id string, at time.Time) error {
	if _, err := s.writer.ExecContext(ctx, `UPDATE drafts SET used_at = $1 WHERE id = $2`, s.ts(at), id); err != nil {
		return fmt.Errorf("store: marking a draft used: %w", err)
	}
	return nil
}

// PruneDrafts deletes the drafts last saved before olderThan and returns how
// many it deleted.
func (s *Store) PruneDrafts(ctx context.Context, olderThan time.Time) (int, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM drafts WHERE used_at < $1`, s.ts(olderThan))
	if err != nil {
		return 0, fmt.Errorf("store: pruning drafts: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
