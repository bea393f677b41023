package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/udftiles/udftiles/internal/s3client"
	"github.com/udftiles/udftiles/render"
	"github.com/udftiles/udftiles/tiles"
)

// s3Options configure the S3 sink; Open takes them from the environment.
type s3Options struct {
	Client s3client.Options
	// Attempts is how many times a request is tried (transient errors);
	// Backoff the wait before the second, doubled for each further one.
	Attempts int
	Backoff  time.Duration
	Timeout  time.Duration // per attempt
}

// s3Sink writes prefix/{z}/{x}/{y}.{ext} objects with the format's
// Content-Type; tiles are stored as they are put, so Content-Encoding is only
// set (gzip) for tiles that arrive gzip-compressed in a format that is not
// compressed itself (mvt, geojson, json, csv). Requests that fail with a
// transient error (network, 5xx, throttling, timeouts) are retried with
// exponential backoff.
type s3Sink struct {
	o      s3Options
	client *s3.Client
	bucket string
	prefix string // "" or "a/b/"
	format string
	count  *blobCounter
	closed atomic.Bool
}

func openS3(dest, format string, o s3Options) (*s3Sink, error) {
	rest := dest[len("s3://"):]
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return nil, fmt.Errorf("export: %q: want s3://bucket/prefix", dest)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if !s3client.HasCredentials(o.Client) {
		return nil, errors.New("export: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return &s3Sink{o: o, client: s3client.New(o.Client), bucket: bucket, prefix: prefix, format: format, count: newBlobCounter()}, nil
}

func (s *s3Sink) key(t tiles.Tile) string {
	return s.prefix + strconv.Itoa(t.Z) + "/" + strconv.Itoa(t.X) + "/" + strconv.Itoa(t.Y) + "." + s.format
}

// do runs op until it succeeds, fails for good, or has been tried
// o.Attempts times; each try has o.Timeout.
func (s *s3Sink) do(what string, op func(ctx context.Context) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
		err = op(ctx)
		cancel()
		if err == nil || !transient(err) || attempt >= s.o.Attempts {
			break
		}
		d := s.o.Backoff << (attempt - 1)
		time.Sleep(d/2 + rand.N(d/2+1)) // jitter: spread the retries of many writers
	}
	if err != nil {
		return fmt.Errorf("export: %s: %w", what, err)
	}
	return nil
}

// transient reports whether a request may succeed if tried again.
func transient(err error) bool {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		if c := re.HTTPStatusCode(); c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout {
			return true
		}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException", "RequestLimitExceeded":
			return true
		}
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne)
}

func (s *s3Sink) Has(t tiles.Tile) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	if err := t.Validate(); err != nil {
		return false, fmt.Errorf("export: tile %s: %w", t, err)
	}
	key := s.key(t)
	found := false
	err := s.do("checking s3://"+s.bucket+"/"+key, func(ctx context.Context) error {
		_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
		var nf *types.NotFound
		var re *smithyhttp.ResponseError
		switch {
		case err == nil:
			found = true
		case errors.As(err, &nf), errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound:
			found = false
			return nil
		}
		return err
	})
	return found, err
}

// compressible formats are sent with Content-Encoding: gzip when their bytes
// are gzip.
var compressible = map[string]bool{"mvt": true, "geojson": true, "json": true, "csv": true, "npy": true}

func (s *s3Sink) Put(t tiles.Tile, data []byte) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkPut(t, data); err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.key(t)),
		ContentType:   aws.String(render.MediaType(s.format)),
		ContentLength: aws.Int64(int64(len(data))),
	}
	if compressible[s.format] && isGzip(data) {
		in.ContentEncoding = aws.String("gzip")
	}
	if err := s.put(in, data); err != nil {
		return err
	}
	s.count.add(data)
	return nil
}

func (s *s3Sink) put(in *s3.PutObjectInput, data []byte) error {
	return s.do("writing s3://"+s.bucket+"/"+aws.ToString(in.Key), func(ctx context.Context) error {
		in.Body = bytes.NewReader(data) // a fresh body for every try
		_, err := s.client.PutObject(ctx, in)
		return err
	})
}

// Finish writes prefix/tilejson.json.
func (s *s3Sink) Finish(m Metadata) error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	if err := finishFormat(&m, s.format); err != nil {
		return err
	}
	if err := checkZooms(m); err != nil {
		return err
	}
	doc, err := tileJSONFor(m, s.format)
	if err != nil {
		return fmt.Errorf("export: tilejson: %w", err)
	}
	return s.put(&s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + "tilejson.json"),
		ContentType:   aws.String("application/json"),
		ContentLength: aws.Int64(int64(len(doc))),
	}, doc)
}

func (s *s3Sink) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *s3Sink) Stats() SinkStats { return s.count.stats() }
