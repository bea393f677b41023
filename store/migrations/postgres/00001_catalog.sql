-- The catalog of UDFs saved at run time, their share tokens, Workbench drafts
-- and the change log.

-- +goose Up
CREATE TABLE udfs (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,           -- the author of version 1
    version    INTEGER NOT NULL,        -- the current version
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE udf_versions (
    name       TEXT NOT NULL REFERENCES udfs (name) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    code       TEXT NOT NULL,
    code_hash  TEXT NOT NULL,           -- sha256 hex of code
    meta       TEXT NOT NULL,           -- store.Meta as JSON
    author     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,   -- sha256 hex of the token; the token itself is not kept
    udf         TEXT NOT NULL REFERENCES udfs (name) ON DELETE CASCADE,
    prefix      TEXT NOT NULL,
    owner       TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL,
    cache       BOOLEAN NOT NULL,
    public_read BOOLEAN NOT NULL,
    expires_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX tokens_udf ON tokens (udf, created_at);

CREATE TABLE drafts (
    id         TEXT PRIMARY KEY,        -- sha256 hex of code
    code       TEXT NOT NULL,
    author     TEXT NOT NULL,           -- who saved it first
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ NOT NULL     -- the last save; pruning goes by it
);
CREATE INDEX drafts_used_at ON drafts (used_at);

-- Writers take pg_advisory_xact_lock before inserting here, so that seqs
-- commit in their order (see store/changes.go).
CREATE TABLE changes (
    seq  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '',
    at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX changes_at ON changes (at);

-- +goose Down
DROP TABLE changes;
DROP TABLE drafts;
DROP TABLE tokens;
DROP TABLE udf_versions;
DROP TABLE udfs;
