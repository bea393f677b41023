-- Batch jobs (POST /v1/udfs/{name}/submit) and their items, shared by every
-- replica of the store; River's own tables (river_job, ...) are migrated by
-- package jobs after these. Times are TIMESTAMPTZ.

-- +goose Up
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,        -- 32 hex digits
    owner        TEXT NOT NULL,           -- the bearer's name; '' = anonymous
    client       TEXT NOT NULL,           -- what the per-client limits count: bearer:NAME or addr:IP
    udf          TEXT NOT NULL,
    spec         TEXT NOT NULL,           -- jobs.Spec as JSON, without its items
    state        TEXT NOT NULL,           -- running, done, cancelled
    reason       TEXT NOT NULL DEFAULT '',
    total        INTEGER NOT NULL,
    max_workers  INTEGER NOT NULL,        -- items running at once, over every replica
    max_retry    INTEGER NOT NULL,
    result_bytes BIGINT NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX jobs_owner ON jobs (owner, created_at);
CREATE INDEX jobs_client ON jobs (client, state);
CREATE INDEX jobs_finished ON jobs (finished_at);

CREATE TABLE job_items (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    args         TEXT NOT NULL,           -- the item's parameters as a JSON object
    status       TEXT NOT NULL,           -- pending, running, ok, error, cancelled
    lease        INTEGER NOT NULL DEFAULT 0,  -- bumped by every claim, cancel and take-over: a run writes only under its own
    instance     TEXT NOT NULL DEFAULT '',    -- the server process running it (its heartbeat is in job_replicas)
    replica      TEXT NOT NULL DEFAULT '',    -- the replica that ran it (or runs it)
    river_id     BIGINT,                 -- the River job that runs it now
    attempts     INTEGER NOT NULL DEFAULT 0,
    rescues      INTEGER NOT NULL DEFAULT 0,  -- times it was taken from a replica that died
    seconds      DOUBLE PRECISION NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT '',
    logs         TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL DEFAULT '',
    cache        TEXT NOT NULL DEFAULT '',
    size         BIGINT NOT NULL DEFAULT 0,
    result       BYTEA,                   -- the result itself (large results: see docs/batch.md)
    started_at   TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX job_items_status ON job_items (job_id, status);
CREATE INDEX job_items_open ON job_items (status, updated_at);
CREATE INDEX job_items_instance ON job_items (instance) WHERE status = 'running';
CREATE INDEX job_items_river ON job_items (river_id);

-- One row per running server process: the items of a process whose heartbeat
-- stopped are run again by the others.
CREATE TABLE job_replicas (
    instance   TEXT PRIMARY KEY,
    replica    TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE job_replicas;
DROP TABLE job_items;
DROP TABLE jobs;
