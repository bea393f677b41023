package export

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/udftiles/udftiles/internal/miniotest"
	"github.com/udftiles/udftiles/internal/s3client"
	"github.com/udftiles/udftiles/tiles"
)

// s3Env points Open's environment at a MinIO server.
func s3Env(t *testing.T, srv *miniotest.Server, endpoint string) {
	for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_S3_ENDPOINT", "AWS_SESSION_TOKEN", "AWS_HTTPS"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_REGION", "")
}

func headObject(t *testing.T, c *s3.Client, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head s3://%s/%s: %v", bucket, key, err)
	}
	return out
}

func TestS3Export(t *testing.T) {
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "tiles")
	s3Env(t, srv, srv.Endpoint)
	client := srv.Client(t)

	dest := "s3://tiles/exports/places/"
	s := mustOpen(t, dest, "mvt")
	want := map[tiles.Tile][]byte{}
	for _, tl := range pyramid(0, 2) {
		want[tl] = mvtTile(t, tl, 2)
	}
	gzipped := tiles.Tile{Z: 2, X: 3, Y: 3}
	want[gzipped] = gz(t, want[gzipped])
	mustHave(t, s, false, tiles.Tile{})
	first := pyramid(0, 1)
	for _, tl := range first {
		if err := s.Put(tl, want[tl]); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = mustOpen(t, dest, "mvt") // resume
	mustHave(t, s, true, first...)
	mustHave(t, s, false, pyramid(2, 2)...)
	for _, tl := range pyramid(2, 2) {
		if err := s.Put(tl, want[tl]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Finish(Metadata{Name: "places", MinZoom: 0, MaxZoom: 2,
		VectorLayers: []VectorLayer{{ID: "places", Fields: map[string]string{}}}}); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Tiles != 16 || st.Unique != 16 {
		t.Errorf("stats %+v", st)
	}

	keys := srv.Objects(t, "tiles", "exports/")
	var wantKeys []string
	for _, tl := range pyramid(0, 2) {
		wantKeys = append(wantKeys, fmt.Sprintf("exports/places/%d/%d/%d.mvt", tl.Z, tl.X, tl.Y))
	}
	wantKeys = append(wantKeys, "exports/places/tilejson.json")
	if len(keys) != len(wantKeys) {
		t.Fatalf("objects %v, want %v", keys, wantKeys)
	}
	for _, k := range wantKeys {
		if !strings.Contains(strings.Join(keys, "\n")+"\n", k+"\n") {
			t.Errorf("object %s missing (have %v)", k, keys)
		}
	}
	for tl, data := range want {
		key := fmt.Sprintf("exports/places/%d/%d/%d.mvt", tl.Z, tl.X, tl.Y)
		if got := srv.Get(t, "tiles", key); !bytes.Equal(got, data) {
			t.Errorf("%s: bytes differ", key)
		}
		h := headObject(t, client, "tiles", key)
		if ct := aws.ToString(h.ContentType); ct != "application/vnd.mapbox-vector-tile" {
			t.Errorf("%s: Content-Type %q", key, ct)
		}
		enc := aws.ToString(h.ContentEncoding)
		if (tl == gzipped) != (enc == "gzip") {
			t.Errorf("%s: Content-Encoding %q", key, enc)
		}
	}
	h := headObject(t, client, "tiles", "exports/places/tilejson.json")
	if ct := aws.ToString(h.ContentType); ct != "application/json" {
		t.Errorf("tilejson Content-Type %q", ct)
	}
	var doc tileJSON
	if err := json.Unmarshal(srv.Get(t, "tiles", "exports/places/tilejson.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.TileJSON.TileJSON != "3.0.0" || doc.Tiles[0] != "{z}/{x}/{y}.mvt" || doc.MaxZoom != 2 || len(doc.VectorLayers) != 1 {
		t.Errorf("tilejson %+v", doc)
	}
}

func TestS3PNGAtBucketRoot(t *testing.T) {
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "root")
	s3Env(t, srv, strings.TrimPrefix(srv.Endpoint, "http://"))
	t.Setenv("AWS_HTTPS", "NO") // GDAL's spelling of an http endpoint without a scheme
	s := mustOpen(t, "s3://root", "png")
	png := pngTile(t, tileColour(tiles.Tile{}))
	if err := s.Put(tiles.Tile{}, png); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(Metadata{}); err != nil {
		t.Fatal(err)
	}
	if keys := srv.Objects(t, "root", ""); strings.Join(keys, ",") != "0/0/0.png,tilejson.json" {
		t.Errorf("objects %v", keys)
	}
	h := headObject(t, srv.Client(t), "root", "0/0/0.png")
	if aws.ToString(h.ContentType) != "image/png" || h.ContentEncoding != nil {
		t.Errorf("Content-Type %q, Content-Encoding %v", aws.ToString(h.ContentType), h.ContentEncoding)
	}
}

// TestS3Retries puts through a proxy that is down for a moment: Put retries
// with backoff and succeeds; a missing bucket fails at once.
func TestS3Retries(t *testing.T) {
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "flaky")
	p := miniotest.NewProxy(t, srv.Addr)
	o := s3Options{Client: s3client.Options{Endpoint: p.URL(), AccessKey: srv.AccessKey, SecretKey: srv.SecretKey},
		Attempts: 6, Backoff: 100 * time.Millisecond, Timeout: 5 * time.Second}
	s, err := openS3("s3://flaky/p", "png", o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(tiles.Tile{}, []byte("first")); err != nil {
		t.Fatal(err)
	}
	p.SetDown(true)
	go func() {
		time.Sleep(400 * time.Millisecond)
		p.SetDown(false)
	}()
	start := time.Now()
	if err := s.Put(tiles.Tile{Z: 1}, []byte("second")); err != nil {
		t.Fatalf("Put while the endpoint was down for 400ms: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("Put took %s: it cannot have waited for the endpoint", d)
	}
	if got := srv.Get(t, "flaky", "p/1/0/0.png"); string(got) != "second" {
		t.Errorf("object %q", got)
	}
	if st := p.Stats(); st.Rejected+st.Cut == 0 {
		t.Errorf("the proxy turned nothing away: %+v", st)
	}
	if ok, err := s.Has(tiles.Tile{Z: 1}); !ok || err != nil {
		t.Errorf("Has = %v, %v", ok, err)
	}

	missing, err := openS3("s3://no-such-bucket/p", "png", o)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	err = missing.Put(tiles.Tile{}, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("Put into a missing bucket: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a permanent error took %s: retried?", d)
	}
}

func TestS3NeedsCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := Open("s3://b/p", "png"); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("Open without credentials: %v", err)
	}
	if _, err := Open("s3:///p", "png"); err == nil {
		t.Error("Open of s3:///p succeeded")
	}
}
