package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ResultStore keeps the results of items too large to keep in their row
// (QueueOptions.ResultInline) as objects: the row keeps the object's key.
// Keys are chosen by the queue, one per run of an item:
// jobs/<job id>/<index>-<lease> (a late run of an item taken over writes an
// object of its own, never the winner's).
type ResultStore interface {
	// Put writes an object.
	Put(ctx context.Context, key string, body []byte, contentType string) error
	// Get opens an object for reading.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// DeletePrefix deletes every object whose key starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// Delete deletes objects (missing ones are not an error).
	Delete(ctx context.Context, keys ...string) error
}

// DefaultResultInline is the largest result kept in its item's row when the
// queue has a ResultStore (server.jobs_result_inline_kb).
const DefaultResultInline = 64 << 10

// resultKey is the key of the result of a run of item idx under lease.
func resultKey(job string, idx int, lease int64) string {
	return "_jobs/" + job + "/" + strconv.Itoa(idx) + "-" + strconv.FormatInt(lease, 10)
}

// resultPrefix is the prefix of the keys of a job's results.
func resultPrefix(job string) string { return "_jobs/" + job + "/" }

// S3Results is a ResultStore in an S3 bucket, under a prefix (the cache
// tier's: cache.s3.prefix).
type S3Results struct {
	Client *s3.Client
	Bucket string
	Prefix string // "" or a prefix without slashes at its ends
	// Timeout bounds each request (default 60s).
	Timeout time.Duration
}

// NewS3Results returns the store of results in bucket under prefix.
func NewS3Results(client *s3.Client, bucket, prefix string) *S3Results {
	return &S3Results{Client: client, Bucket: bucket, Prefix: strings.Trim(prefix, "/")}
}

func (s *S3Results) key(k string) string {
	if s.Prefix == "" {
		return k
	}
	return s.Prefix + "/" + k
}

func (s *S3Results) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return time.Minute
}

// Put writes an object.
func (s *S3Results) Put(ctx context.Context, key string, body []byte, contentType string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	in := &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.key(key)), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body)))}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.Client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("s3: writing %s: %w", s.key(key), err)
	}
	return nil
}

// Get opens an object; the body is read as the caller reads it.
func (s *S3Results) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.key(key))})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("s3: reading %s: %w", s.key(key), err)
	}
	return cancelCloser{out.Body, cancel}, nil
}

type cancelCloser struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelCloser) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Delete deletes objects.
func (s *S3Results) Delete(ctx context.Context, keys ...string) error {
	ids := make([]types.ObjectIdentifier, len(keys))
	for i, k := range keys {
		ids[i] = types.ObjectIdentifier{Key: aws.String(s.key(k))}
	}
	return s.deleteIDs(ctx, ids)
}

func (s *S3Results) deleteIDs(ctx context.Context, ids []types.ObjectIdentifier) error {
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 1000)]
		ids = ids[len(batch):]
		dctx, cancel := context.WithTimeout(ctx, s.timeout())
		out, err := s.Client.DeleteObjects(dctx, &s3.DeleteObjectsInput{Bucket: aws.String(s.Bucket),
			Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)}})
		cancel()
		if err != nil {
			return fmt.Errorf("s3: deleting results: %w", err)
		}
		if len(out.Errors) > 0 {
			return fmt.Errorf("s3: deleting %s: %s", aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
	}
	return nil
}

// DeletePrefix deletes every object under prefix.
func (s *S3Results) DeletePrefix(ctx context.Context, prefix string) error {
	full := s.key(prefix)
	var token *string
	for {
		lctx, cancel := context.WithTimeout(ctx, s.timeout())
		page, err := s.Client.ListObjectsV2(lctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(full), ContinuationToken: token})
		cancel()
		if err != nil {
			return fmt.Errorf("s3: listing %s: %w", full, err)
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Contents))
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if err := s.deleteIDs(ctx, ids); err != nil {
			return err
		}
		if !aws.ToBool(page.IsTruncated) {
			return nil
		}
		token = page.NextContinuationToken
	}
}

// readResult reads the result of an item kept as an object.
func (q *Queue) readResult(ctx context.Context, key string, size int64) ([]byte, error) {
	if q.opt.Results == nil {
		return nil, errors.New("jobs: the result is kept in S3, and this server has no S3 tier (cache.s3)")
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		var r io.ReadCloser
		if r, err = q.opt.Results.Get(ctx, key); err != nil {
			continue
		}
		buf := bytes.NewBuffer(make([]byte, 0, max(0, min(size, 1<<30))+bytes.MinRead))
		_, err = buf.ReadFrom(r)
		r.Close()
		if err == nil {
			return buf.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("jobs: reading a result: %w", err)
}

// removeResults deletes the objects of the results of jobs (after their rows
// are gone); failures are logged: the objects are then left behind.
func (q *Queue) removeResults(ctx context.Context, ids ...string) {
	if q.opt.Results == nil {
		return
	}
	for _, id := range ids {
		if err := q.opt.Results.DeletePrefix(ctx, resultPrefix(id)); err != nil && ctx.Err() == nil {
			q.log.Warn("jobs: the results of a removed job were not deleted from S3", "job", id, "error", err.Error())
		}
	}
}
