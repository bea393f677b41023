-- Results of job items too large to keep in the row (server.jobs_result_inline_kb)
-- live as objects of the server's S3 tier (cache.s3): result_key is the
-- object's key, and result is then NULL. '' = the result, if any, is in result.

-- +goose Up
ALTER TABLE job_items ADD COLUMN result_key TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE job_items DROP COLUMN result_key;
