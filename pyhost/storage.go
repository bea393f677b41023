package pyhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/udftiles/udftiles/internal/s3client"
	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
)

// Storage reads and writes files for UDFs (fused.api, fused.download of
// s3:// paths) under the prefixes of storage.allow: s3://bucket/prefix/ with
// the server's credentials, or local directories.
type Storage struct {
	allow  []string
	client *s3.Client // nil: no s3:// prefix is allowed
	// MaxBytes bounds one file read or written (0 = 1 GiB).
	MaxBytes int64
}

// NewStorage checks the allowed prefixes and makes the S3 client if one is
// an s3:// prefix.
func NewStorage(allow []string, s3o s3client.Options) (*Storage, error) {
	st := &Storage{MaxBytes: 1 << 30}
	for _, a := range allow {
		switch {
		case strings.HasPrefix(a, "s3://"):
			b, _, _ := strings.Cut(strings.TrimPrefix(a, "s3://"), "/")
			if b == "" {
				return nil, errors.New("storage.allow: " + a + ": want s3://bucket/prefix/")
			}
			if st.client == nil {
				st.client = s3client.New(s3o)
			}
			st.allow = append(st.allow, strings.TrimSuffix(a, "/")+"/")
		case strings.HasPrefix(a, "/"):
			dir := filepath.Clean(a)
			if real, err := filepath.EvalSymlinks(dir); err == nil {
				dir = real
			}
			st.allow = append(st.allow, dir+string(filepath.Separator))
		default:
			return nil, errors.New("storage.allow: " + a + ": want s3://bucket/prefix/ or an absolute directory")
		}
	}
	return st, nil
}

// storageArgs are a fused.api call's arguments.
type storageArgs struct {
	Action  string `json:"action"` // list, get, upload, delete, sign_url, sign_url_prefix
	Path    string `json:"path"`
	Expires int    `json:"expires"` // seconds, for signed URLs (default 3600)
}

func (st *Storage) serve(ctx context.Context, c python.HostCall) (python.HostAnswer, error) {
	var a storageArgs
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "storage: %v", err)
	}
	p, err := st.allowed(a.Path, a.Action == "list" || a.Action == "sign_url_prefix")
	if err != nil {
		return python.HostAnswer{}, err
	}
	if strings.HasPrefix(p, "s3://") {
		return st.s3(ctx, a, p, c.Blob)
	}
	return st.local(a, p, c.Blob)
}

// allowed cleans a path and checks it lies under an allowed prefix; a
// prefix itself may be listed.
func (st *Storage) allowed(p string, prefixOK bool) (string, error) {
	if strings.ContainsAny(p, "\x00\r\n") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.HasPrefix(p, "/vsi") {
		return "", layer.Errorf(layer.BadRequest, "storage: %q is not a path the server accepts", describe(p))
	}
	switch {
	case strings.HasPrefix(p, "s3://"):
		clean := "s3://" + path.Clean(strings.TrimPrefix(p, "s3://"))
		if strings.HasSuffix(p, "/") {
			clean += "/"
		}
		for _, a := range st.allow {
			if strings.HasPrefix(clean, a) || prefixOK && clean+"/" == a {
				return clean, nil
			}
		}
	case strings.HasPrefix(p, "/"):
		clean := filepath.Clean(p)
		// Links are followed before the check, so none leads out.
		if real, err := filepath.EvalSymlinks(clean); err == nil {
			clean = real
		} else if dir, err := filepath.EvalSymlinks(filepath.Dir(clean)); err == nil {
			clean = filepath.Join(dir, filepath.Base(clean))
		}
		for _, a := range st.allow {
			if strings.HasPrefix(clean, a) || prefixOK && clean+string(filepath.Separator) == a {
				return clean, nil
			}
		}
	default:
		return "", layer.Errorf(layer.BadRequest, "storage: %q: want s3://bucket/key or an absolute path", describe(p))
	}
	return "", layer.Errorf(layer.Forbidden, "storage: %s is not under storage.allow", describe(p))
}

func (st *Storage) s3(ctx context.Context, a storageArgs, p string, blob []byte) (python.HostAnswer, error) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(p, "s3://"), "/")
	unavailable := func(err error) (python.HostAnswer, error) {
		var nsk interface{ ErrorCode() string }
		if errors.As(err, &nsk) && (nsk.ErrorCode() == "NoSuchKey" || nsk.ErrorCode() == "NotFound") {
			return python.HostAnswer{}, layer.Errorf(layer.NotFound, "storage: no object %s", describe(p))
		}
		return python.HostAnswer{}, &layer.Error{Kind: layer.Unavailable, Msg: "storage: " + err.Error()}
	}
	switch a.Action {
	case "list":
		var out []string
		in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)}
		for pg := s3.NewListObjectsV2Paginator(st.client, in); pg.HasMorePages(); {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return unavailable(err)
			}
			for _, o := range page.Contents {
				out = append(out, "s3://"+bucket+"/"+aws.ToString(o.Key))
			}
		}
		return python.HostAnswer{Result: out}, nil
	case "get":
		o, err := st.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return unavailable(err)
		}
		defer o.Body.Close()
		b, err := io.ReadAll(io.LimitReader(o.Body, st.MaxBytes+1))
		if err != nil {
			return unavailable(err)
		}
		if int64(len(b)) > st.MaxBytes {
			return python.HostAnswer{}, layer.Errorf(layer.TooLarge, "storage: %s is over %d MiB", describe(p), st.MaxBytes>>20)
		}
		return python.HostAnswer{Result: map[string]any{"size": len(b)}, Blob: b}, nil
	case "upload":
		if _, err := st.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(blob),
			ContentLength: aws.Int64(int64(len(blob)))}); err != nil {
			return unavailable(err)
		}
		return python.HostAnswer{Result: p}, nil
	case "delete":
		if _, err := st.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			return unavailable(err)
		}
		return python.HostAnswer{Result: true}, nil
	case "sign_url", "sign_url_prefix":
		exp := time.Duration(max(60, min(a.Expires, 7*24*3600))) * time.Second
		if a.Expires == 0 {
			exp = time.Hour
		}
		ps := s3.NewPresignClient(st.client)
		sign := func(k string) (string, error) {
			r, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}, s3.WithPresignExpires(exp))
			if err != nil {
				return "", err
			}
			return r.URL, nil
		}
		if a.Action == "sign_url" {
			u, err := sign(key)
			if err != nil {
				return unavailable(err)
			}
			return python.HostAnswer{Result: u}, nil
		}
		out := map[string]string{}
		in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)}
		for pg := s3.NewListObjectsV2Paginator(st.client, in); pg.HasMorePages(); {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return unavailable(err)
			}
			for _, o := range page.Contents {
				u, err := sign(aws.ToString(o.Key))
				if err != nil {
					return unavailable(err)
				}
				out["s3://"+bucket+"/"+aws.ToString(o.Key)] = u
			}
		}
		return python.HostAnswer{Result: out}, nil
	}
	return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "storage: unknown action %q", a.Action)
}

func (st *Storage) local(a storageArgs, p string, blob []byte) (python.HostAnswer, error) {
	fail := func(err error) (python.HostAnswer, error) {
		if errors.Is(err, fs.ErrNotExist) {
			return python.HostAnswer{}, layer.Errorf(layer.NotFound, "storage: no file %s", describe(p))
		}
		return python.HostAnswer{}, &layer.Error{Kind: layer.Unavailable, Msg: "storage: " + err.Error()}
	}
	switch a.Action {
	case "list":
		var out []string
		err := filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				out = append(out, f)
			}
			return nil
		})
		if err != nil {
			return fail(err)
		}
		sort.Strings(out)
		return python.HostAnswer{Result: out}, nil
	case "get":
		fi, err := os.Stat(p)
		if err != nil {
			return fail(err)
		}
		if !fi.Mode().IsRegular() {
			return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "storage: %s is not a file", describe(p))
		}
		if fi.Size() > st.MaxBytes {
			return python.HostAnswer{}, layer.Errorf(layer.TooLarge, "storage: %s is over %d MiB", describe(p), st.MaxBytes>>20)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fail(err)
		}
		return python.HostAnswer{Result: map[string]any{"size": len(b)}, Blob: b}, nil
	case "upload":
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fail(err)
		}
		tmp := p + ".part"
		if err := os.WriteFile(tmp, blob, 0o644); err != nil {
			return fail(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return fail(err)
		}
		return python.HostAnswer{Result: p}, nil
	case "delete":
		if err := os.Remove(p); err != nil {
			return fail(err)
		}
		return python.HostAnswer{Result: true}, nil
	case "sign_url", "sign_url_prefix":
		return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "storage: %s is a local path: only s3:// objects have signed URLs", describe(p))
	}
	return python.HostAnswer{}, layer.Errorf(layer.BadRequest, "storage: unknown action %q", a.Action)
}
