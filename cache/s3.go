package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/udftiles/udftiles/internal/s3client"
	"github.com/udftiles/udftiles/metrics"
)

// S3Options configure the S3 tier.
type S3Options struct {
	Bucket string
	Prefix string // key prefix inside the bucket, e.g. "udftiles"
	// Endpoint is an S3-compatible server's URL (MinIO, ...); "" = AWS.
	Endpoint  string
	Region    string // default us-east-1
	AccessKey string // "" with SecretKey "": the AWS_* environment
	SecretKey string
	// PathStyle addresses buckets as endpoint/bucket/key (MinIO); default on
	// when Endpoint is set.
	PathStyle *bool
	// ReadTimeout bounds a read: past it the tile is rendered (default 250ms).
	ReadTimeout time.Duration
	// WriteTimeout bounds a background write (default 10s).
	WriteTimeout time.Duration
	// Queue bounds the writes waiting; past it new ones are dropped (default 1024).
	Queue   int
	Logger  *slog.Logger
	Metrics *metrics.Set
	// HTTPClient overrides the SDK's client (tests).
	HTTPClient *http.Client
}

// S3Tier stores entries as S3 objects under Prefix/<key>: an 8-byte magic and
// header length, a JSON header (creation, max age, content type, ETag, logs,
// the body's SHA-256), then the body. A read checks the checksum (a corrupt
// object is a miss and is rewritten by the render that follows) and the age
// (an expired object is never served). Reads have a small time budget; writes
// happen in the background. After repeated failures a circuit breaker skips
// S3 for a while (doubling up to a minute), then tries one request: tiles are
// rendered meanwhile, and the state changes are logged once each.
type S3Tier struct {
	o       S3Options
	client  *s3.Client
	br      breaker
	writes  []chan s3Write // by key hash: the writes of one key stay in order
	pending atomic.Int64   // writes queued or under way
	wg      sync.WaitGroup
	closed  chan struct{}
}

type s3Write struct {
	key string
	e   *Entry
}

// s3Magic starts every object; the version is its last byte.
const s3Magic = "UDFT\x00\x00\x00\x01"

// s3Header is the JSON header of an object.
type s3Header struct {
	Created     int64  `json:"created"` // Unix nanoseconds
	MaxAge      int64  `json:"max_age"` // nanoseconds
	ContentType string `json:"content_type"`
	ETag        string `json:"etag"`
	Logs        string `json:"logs,omitempty"`
	Truncated   string `json:"truncated,omitempty"`
	SHA256      string `json:"sha256"`
}

// NewS3 connects the tier (without a request: S3 may be down at start-up) and
// starts its writers.
func NewS3(o S3Options) (*S3Tier, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3: a bucket is required")
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 250 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Prefix = strings.Trim(o.Prefix, "/")
	client := s3client.New(s3client.Options{Endpoint: o.Endpoint, Region: o.Region, AccessKey: o.AccessKey,
		SecretKey: o.SecretKey, PathStyle: o.PathStyle, HTTPClient: o.HTTPClient})
	t := &S3Tier{o: o, client: client, closed: make(chan struct{})}
	t.br.log = o.Logger
	t.br.gauge = func(open bool) {
		if o.Metrics != nil {
			v := 0.0
			if open {
				v = 1
			}
			o.Metrics.S3Breaker.Set(v)
		}
	}
	for i := 0; i < s3Writers; i++ {
		ch := make(chan s3Write, max(1, o.Queue/s3Writers))
		t.writes = append(t.writes, ch)
		t.wg.Add(1)
		go t.writer(ch)
	}
	return t, nil
}

// Source is the X-Cache name of the tier.
func (t *S3Tier) Source() Source { return S3 }

// Close stops taking writes and waits (up to the write timeout) for those queued.
func (t *S3Tier) Close() {
	select {
	case <-t.closed:
		return
	default:
	}
	close(t.closed)
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(t.o.WriteTimeout):
	}
}

// Flush waits until the queued writes are done (tests, shutdown), at most d.
func (t *S3Tier) Flush(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if t.pending.Load() == 0 {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// objectKey is where key is stored.
func (t *S3Tier) objectKey(key string) string {
	if t.o.Prefix == "" {
		return key
	}
	return t.o.Prefix + "/" + key
}

func (t *S3Tier) observe(op string, start time.Time) {
	if t.o.Metrics != nil {
		t.o.Metrics.S3Seconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

func (t *S3Tier) count(result string) {
	if t.o.Metrics != nil {
		t.o.Metrics.CacheLookups.WithLabelValues(string(S3), result).Inc()
	}
}

// Get reads key within the read budget; nil when absent, expired or corrupt,
// or while the breaker is open.
func (t *S3Tier) Get(ctx context.Context, key string, maxAge time.Duration) (*Entry, error) {
	ok, probe := t.br.allow()
	if !ok {
		t.count("skipped")
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.o.ReadTimeout)
	defer cancel()
	start := time.Now()
	out, err := t.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(t.o.Bucket), Key: aws.String(t.objectKey(key))})
	var body []byte
	if err == nil {
		body, err = io.ReadAll(out.Body)
		out.Body.Close()
	}
	t.observe("get", start)
	if err != nil {
		// A missing key is a miss; a missing bucket is a failure.
		var nsk *types.NoSuchKey
		var ae smithy.APIError
		if errors.As(err, &nsk) || errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey" {
			t.br.success(probe)
			t.count("miss")
			return nil, nil
		}
		t.br.failure(err, probe)
		t.count("error")
		return nil, err
	}
	t.br.success(probe)
	e, err := decodeObject(body)
	if err != nil {
		t.count("corrupt")
		t.o.Logger.Warn("s3 cache: a corrupt object is ignored and will be rewritten", "key", t.objectKey(key), "error", err.Error())
		return nil, nil
	}
	if !Fresh(e, maxAge, time.Now()) {
		t.count("expired")
		return nil, nil
	}
	t.count("hit")
	if t.o.Metrics != nil {
		t.o.Metrics.CacheBytes.WithLabelValues(string(S3), "read").Add(float64(len(e.Body)))
	}
	return e, nil
}

// Put queues a write; when the queue is full it is dropped.
func (t *S3Tier) Put(key string, e *Entry) {
	select {
	case <-t.closed:
		return
	default:
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	t.pending.Add(1)
	select {
	case t.writes[h.Sum32()%s3Writers] <- s3Write{key, e}:
	default:
		t.pending.Add(-1)
		if t.o.Metrics != nil {
			t.o.Metrics.CacheWrites.WithLabelValues(string(S3), "dropped").Inc()
		}
	}
}

// s3Writers is how many writes run at once.
const s3Writers = 4

func (t *S3Tier) writer(writes chan s3Write) {
	defer t.wg.Done()
	for {
		select {
		case w := <-writes:
			t.write(w)
		case <-t.closed:
			for { // drain what is queued, then stop
				select {
				case w := <-writes:
					t.write(w)
				default:
					return
				}
			}
		}
	}
}

func (t *S3Tier) write(w s3Write) {
	result := "ok"
	defer func() {
		t.pending.Add(-1)
		if t.o.Metrics != nil {
			t.o.Metrics.CacheWrites.WithLabelValues(string(S3), result).Inc()
		}
	}()
	ok, probe := t.br.allow()
	if !ok {
		result = "dropped"
		return
	}
	body := encodeObject(w.e)
	ctx, cancel := context.WithTimeout(context.Background(), t.o.WriteTimeout)
	defer cancel()
	start := time.Now()
	_, err := t.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(t.o.Bucket), Key: aws.String(t.objectKey(w.key)),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: aws.String("application/x-udftiles-entry"),
		Expires:     aws.Time(w.e.Expires()),
	})
	t.observe("put", start)
	if err != nil {
		t.br.failure(err, probe)
		result = "error"
		return
	}
	t.br.success(probe)
	if t.o.Metrics != nil {
		t.o.Metrics.CacheBytes.WithLabelValues(string(S3), "written").Add(float64(len(w.e.Body)))
	}
}

// Purge deletes the objects of udf whose keys match (nil: all).
func (t *S3Tier) Purge(ctx context.Context, udf string, match func(key string) bool) (int, error) {
	prefix := t.objectKey(udf + "/")
	var token *string
	n := 0
	for {
		start := time.Now()
		page, err := t.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(t.o.Bucket), Prefix: aws.String(prefix), ContinuationToken: token})
		t.observe("list", start)
		if err != nil {
			return n, fmt.Errorf("s3: listing %s: %w", prefix, err)
		}
		var del []types.ObjectIdentifier
		for _, obj := range page.Contents {
			k := aws.ToString(obj.Key)
			if match == nil || match(strings.TrimPrefix(k, t.objectKey(""))) {
				del = append(del, types.ObjectIdentifier{Key: aws.String(k)})
			}
		}
		for len(del) > 0 {
			batch := del[:min(len(del), 1000)]
			del = del[len(batch):]
			start := time.Now()
			out, err := t.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(t.o.Bucket),
				Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)}})
			t.observe("delete", start)
			if err != nil {
				return n, fmt.Errorf("s3: deleting under %s: %w", prefix, err)
			}
			n += len(batch) - len(out.Errors)
			if len(out.Errors) > 0 {
				return n, fmt.Errorf("s3: deleting %s: %s", aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return n, nil
		}
		token = page.NextContinuationToken
	}
}

// Keys lists the keys the tier holds for udf (tests, the CLI).
func (t *S3Tier) Keys(ctx context.Context, udf string) ([]string, error) {
	var keys []string
	_, err := t.Purge(ctx, udf, func(key string) bool { keys = append(keys, key); return false })
	return keys, err
}

func encodeObject(e *Entry) []byte {
	sum := sha256.Sum256(e.Body)
	h, _ := json.Marshal(s3Header{Created: e.Created.UnixNano(), MaxAge: int64(e.MaxAge), ContentType: e.ContentType,
		ETag: e.ETag, Logs: e.Logs, Truncated: e.Truncated, SHA256: hex.EncodeToString(sum[:])})
	out := make([]byte, 0, len(s3Magic)+4+len(h)+len(e.Body))
	out = append(out, s3Magic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(h)))
	out = append(out, h...)
	return append(out, e.Body...)
}

func decodeObject(b []byte) (*Entry, error) {
	if len(b) < len(s3Magic)+4 || string(b[:len(s3Magic)]) != s3Magic {
		return nil, errors.New("not a cache entry")
	}
	n := int(binary.BigEndian.Uint32(b[len(s3Magic):]))
	rest := b[len(s3Magic)+4:]
	if n > len(rest) {
		return nil, errors.New("the header is cut short")
	}
	var h s3Header
	if err := json.Unmarshal(rest[:n], &h); err != nil {
		return nil, fmt.Errorf("header: %v", err)
	}
	body := rest[n:]
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != h.SHA256 {
		return nil, errors.New("the body does not match its checksum")
	}
	e := &Entry{Body: body, ContentType: h.ContentType, ETag: h.ETag, Created: time.Unix(0, h.Created),
		MaxAge: time.Duration(h.MaxAge), Logs: h.Logs, Truncated: h.Truncated}
	e.header = newHeader(e)
	return e, nil
}

// breaker skips S3 after repeated failures: closed (used), open (skipped until
// a time), half-open (one request tries).
type breaker struct {
	mu       sync.Mutex
	fails    int
	openTill time.Time
	cooldown time.Duration
	probing  bool
	open     bool
	log      *slog.Logger
	gauge    func(open bool)
}

const (
	breakerFailures = 3
	breakerMin      = 2 * time.Second
	breakerMax      = time.Minute
)

// allow reports whether a request may go to S3 now, and whether it is the
// probe of an open breaker. The request reports its outcome with that flag:
// while the breaker is open only the probe's outcome counts, not that of
// requests already under way when it opened.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true, false
	}
	if time.Now().Before(b.openTill) || b.probing {
		return false, false
	}
	b.probing = true // one request tries; the others keep skipping
	return true, true
}

func (b *breaker) success(probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open && !probe {
		return // under way since before the breaker opened
	}
	b.fails = 0
	if b.open {
		b.open, b.probing, b.cooldown = false, false, 0
		b.log.Info("s3 cache: reachable again; using it")
		if b.gauge != nil {
			b.gauge(false)
		}
	}
}

func (b *breaker) failure(err error, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open && !probe {
		return // under way since before the breaker opened
	}
	b.fails++
	switch {
	case b.open: // the probe failed: wait longer
		b.probing = false
		b.cooldown = min(2*b.cooldown, breakerMax)
		b.openTill = time.Now().Add(b.cooldown)
	case b.fails >= breakerFailures:
		b.open, b.cooldown = true, breakerMin
		b.openTill = time.Now().Add(b.cooldown)
		b.log.Warn("s3 cache: unavailable, skipping it and rendering tiles meanwhile", "error", err.Error(),
			"failures", b.fails, "retry_in", b.cooldown.String())
		if b.gauge != nil {
			b.gauge(true)
		}
	}
}
