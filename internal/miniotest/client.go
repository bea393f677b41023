package miniotest

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// opTimeout bounds each call the helpers below make.
const opTimeout = 30 * time.Second

// Client returns an S3 client for the server: path-style addressing, the
// server's static credentials, region us-east-1, and nothing read from the
// environment or ~/.aws. optFns adjust the options (for example
// o.RetryMaxAttempts = 1).
func (s *Server) Client(t testing.TB, optFns ...func(*s3.Options)) *s3.Client {
	t.Helper()
	return s.ClientAt(t, s.Endpoint, optFns...)
}

// ClientAt is Client for another endpoint with the server's credentials:
// typically a [Proxy] in front of it, ClientAt(t, p.URL()).
func (s *Server) ClientAt(t testing.TB, endpoint string, optFns ...func(*s3.Options)) *s3.Client {
	t.Helper()
	opts := s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		// MinIO does not return checksums for every response; the SDK would
		// log a warning for each.
		DisableLogOutputChecksumValidationSkipped: true,
	}
	return s3.New(opts, optFns...)
}

// CreateBucket creates a bucket, failing the test on error.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := s.Client(t).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("miniotest: create bucket %q: %v", name, err)
	}
}

// Objects lists the keys under prefix in bucket, sorted, failing the test on
// error.
func (s *Server) Objects(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.Client(t), &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket),
		Prefix: aws.String(prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("miniotest: list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

// Put stores an object, failing the test on error.
func (s *Server) Put(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := s.Client(t).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   bytes.NewReader(data),
	}); err != nil {
		t.Fatalf("miniotest: put s3://%s/%s: %v", bucket, key, err)
	}
}

// Get reads an object, failing the test on error (a missing key included).
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	out, err := s.Client(t).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("miniotest: get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("miniotest: get s3://%s/%s: reading body: %v", bucket, key, err)
	}
	return b
}
