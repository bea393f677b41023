// Package s3client is the one way the server makes S3 clients, for the cache
// tier and for exports alike: endpoint (MinIO or any S3-compatible server),
// region, credentials from the config or the environment, path-style
// addressing, and no retries of the SDK's own (callers retry as their budget
// allows).
package s3client

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Options describe a client.
type Options struct {
	Endpoint string // an S3-compatible server's URL; "" = AWS
	Region   string // "" = us-east-1
	// AccessKey and SecretKey (and Session) are the credentials; empty, they
	// are read from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
	// AWS_SESSION_TOKEN when a request is signed.
	AccessKey, SecretKey, Session string
	// PathStyle addresses buckets in the path; nil = on with an endpoint.
	PathStyle  *bool
	HTTPClient *http.Client // nil = the SDK's
}

// New returns a client. Requests are tried once: the cache tier has a short
// budget and a breaker, exports retry themselves.
func New(o Options) *s3.Client {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	pathStyle := o.Endpoint != ""
	if o.PathStyle != nil {
		pathStyle = *o.PathStyle
	}
	opts := s3.Options{
		Region:                     o.Region,
		Credentials:                credentialsOf(o),
		UsePathStyle:               pathStyle,
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		DisableLogOutputChecksumValidationSkipped: true,
	}
	if o.Endpoint != "" {
		opts.BaseEndpoint = aws.String(o.Endpoint)
	}
	if o.HTTPClient != nil {
		opts.HTTPClient = o.HTTPClient
	}
	return s3.New(opts)
}

func credentialsOf(o Options) aws.CredentialsProvider {
	if o.AccessKey != "" || o.SecretKey != "" {
		return credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, o.Session)
	}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		if id == "" || secret == "" {
			return aws.Credentials{}, ErrNoCredentials
		}
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}, nil
	})
}

// ErrNoCredentials is the error of a request signed without credentials.
var ErrNoCredentials = errors.New("no S3 credentials: set the access and secret keys in the config, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")

// HasCredentials reports whether requests of a client made with o can be signed.
func HasCredentials(o Options) bool {
	return o.AccessKey != "" && o.SecretKey != "" || os.Getenv("AWS_ACCESS_KEY_ID") != "" && os.Getenv("AWS_SECRET_ACCESS_KEY") != ""
}

// FromEnv reads the endpoint and region as GDAL and the AWS tools do:
// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or AWS_S3_ENDPOINT (host[:port]
// without a scheme is https, or http with AWS_HTTPS=NO), and AWS_REGION.
// Credentials are left to the environment.
func FromEnv() Options {
	o := Options{Region: os.Getenv("AWS_REGION")}
	for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_S3_ENDPOINT"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			o.Endpoint = v
			break
		}
	}
	if o.Endpoint != "" && !strings.Contains(o.Endpoint, "://") {
		scheme := "https://"
		if strings.EqualFold(os.Getenv("AWS_HTTPS"), "NO") || strings.EqualFold(os.Getenv("AWS_HTTPS"), "FALSE") {
			scheme = "http://"
		}
		o.Endpoint = scheme + o.Endpoint
	}
	return o
}
