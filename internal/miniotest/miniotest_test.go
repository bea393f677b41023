package miniotest

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func getObject(ctx context.Context, c *s3.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// TestMinIO runs one real MinIO server through the whole life cycle: bucket,
// put and get directly, through a slow proxy and a down one, and a restart
// that keeps the data.
func TestMinIO(t *testing.T) {
	srv := Start(t)
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not on 127.0.0.1", srv.Endpoint)
	}
	const bucket = "tiles"
	srv.CreateBucket(t, bucket)
	data := bytes.Repeat([]byte("tile-bytes "), 10000) // 110 kB
	key := "layer/3/4/5.png"

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("direct", func(t *testing.T) {
		c := srv.Client(t)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		}); err != nil {
			t.Fatalf("put: %v", err)
		}
		got, err := getObject(ctx, c, bucket, key)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get = %d bytes, %v; want %d bytes", len(got), err, len(data))
		}
		srv.Put(t, bucket, "layer/other", []byte("x"))
		if keys := srv.Objects(t, bucket, "layer/"); !slices.Equal(keys, []string{key, "layer/other"}) {
			t.Errorf("Objects = %q", keys)
		}
		if keys := srv.Objects(t, bucket, "nothing/"); len(keys) != 0 {
			t.Errorf("Objects(nothing/) = %q", keys)
		}
		if _, err := getObject(ctx, c, bucket, "missing"); err == nil {
			t.Error("get of a missing key succeeded")
		}
	})

	proxy := NewProxy(t, srv.Addr)
	// One attempt, so that timings are the proxy's, not the SDK's retries.
	viaProxy := srv.ClientAt(t, proxy.URL(), func(o *s3.Options) { o.RetryMaxAttempts = 1 })

	t.Run("latency", func(t *testing.T) {
		const d = 300 * time.Millisecond
		proxy.SetLatency(d)
		defer proxy.SetLatency(0)
		for i := range 2 { // a new connection, then a kept-alive one
			start := time.Now()
			got, err := getObject(ctx, viaProxy, bucket, key)
			el := time.Since(start)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get through proxy = %d bytes, %v", len(got), err)
			}
			if el < d {
				t.Errorf("get %d through a %s proxy took %s", i, d, el)
			}
			t.Logf("get %d through a %s proxy took %s", i, d, el)
		}
		start := time.Now()
		if _, err := viaProxy.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String("slow-put"), Body: bytes.NewReader(data),
		}); err != nil {
			t.Fatalf("put through proxy: %v", err)
		}
		if el := time.Since(start); el < d {
			t.Errorf("put through a %s proxy took %s", d, el)
		}
		if !bytes.Equal(srv.Get(t, bucket, "slow-put"), data) {
			t.Error("object put through the proxy differs")
		}
	})

	t.Run("down", func(t *testing.T) {
		before := proxy.Stats()
		proxy.SetDown(true)
		if st := proxy.Stats(); st.Active != 0 || st.Cut < int64(before.Active) {
			t.Errorf("after SetDown(true): %+v (before %+v)", st, before)
		}
		start := time.Now()
		octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
		defer ocancel()
		_, err := getObject(octx, viaProxy, bucket, key)
		el := time.Since(start)
		if err == nil {
			t.Fatal("get through a down proxy succeeded")
		}
		t.Logf("get through a down proxy failed after %s: %v", el, err)
		if el > 5*time.Second {
			t.Errorf("failing took %s, want under 5s", el)
		}
		if st := proxy.Stats(); st.Rejected <= before.Rejected {
			t.Errorf("no connection rejected: %+v", st)
		}
		// With the SDK's default retries it still fails, in bounded time.
		retrying := srv.ClientAt(t, proxy.URL())
		start = time.Now()
		if _, err := getObject(octx, retrying, bucket, key); err == nil {
			t.Fatal("get through a down proxy succeeded (retrying client)")
		}
		t.Logf("retrying client failed after %s", time.Since(start))

		proxy.SetDown(false)
		got, err := getObject(ctx, viaProxy, bucket, key)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get after the proxy came back = %d bytes, %v", len(got), err)
		}
	})

	t.Run("restart", func(t *testing.T) {
		addr := srv.Addr
		srv.Stop()
		if srv.Running() {
			t.Fatal("Running after Stop")
		}
		octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
		defer ocancel()
		c := srv.Client(t, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		if _, err := getObject(octx, c, bucket, key); err == nil {
			t.Fatal("get from a stopped MinIO succeeded")
		}
		srv.Start()
		if srv.Addr != addr {
			t.Fatalf("restarted on %s, want %s", srv.Addr, addr)
		}
		got, err := getObject(ctx, c, bucket, key)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get after restart = %d bytes, %v", len(got), err)
		}
		if keys := srv.Objects(t, bucket, ""); !slices.Equal(keys, []string{key, "layer/other", "slow-put"}) {
			t.Errorf("objects after restart = %q", keys)
		}
		// The proxy reaches the new process too.
		got, err = getObject(ctx, viaProxy, bucket, key)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get through proxy after restart = %d bytes, %v", len(got), err)
		}
	})
}

// TestServersInParallel checks that two servers of one test binary get their
// own ports and data.
func TestServersInParallel(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr == b.Addr || a.Dir == b.Dir || a.AccessKey == b.AccessKey {
		t.Fatalf("servers share %s/%s, %s/%s", a.Addr, b.Addr, a.Dir, b.Dir)
	}
	a.CreateBucket(t, "only-a")
	b.CreateBucket(t, "only-b")
	a.Put(t, "only-a", "k", []byte("a"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Client(t).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("only-a")}); err == nil {
		t.Error("bucket of server a visible on server b")
	}
	// Credentials are per server.
	cross := a.ClientAt(t, b.Endpoint, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	if _, err := cross.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
		t.Error("server b accepted server a's credentials")
	}
}
