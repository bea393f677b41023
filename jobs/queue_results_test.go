package jobs

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/udftiles/udftiles/internal/miniotest"
	"github.com/udftiles/udftiles/internal/pgtest"
)

// TestQueueResultsS3: on PostgreSQL with an S3 tier (MinIO), results over
// the inline bound live in S3 (the rows hold their keys), small ones stay
// in their rows; Results reads them back; removing the job deletes its
// objects, and so does the TTL's sweep.
func TestQueueResultsS3(t *testing.T) {
	pg := pgtest.Start(t)
	minio := miniotest.Start(t)
	const bucket = "results"
	minio.CreateBucket(t, bucket)
	rs := NewS3Results(minio.Client(t), bucket, "/udft/")

	// Item x answers 200 KiB of byte x, except odd items: 100 bytes.
	body := func(x int) []byte {
		if x%2 == 1 {
			return bytes.Repeat([]byte{'a' + byte(x%26)}, 100)
		}
		return bytes.Repeat([]byte{byte(x)}, 200<<10)
	}
	run := func(ctx context.Context, udf string, params map[string]string, spec *Spec) (Output, error) {
		x, _ := strconv.Atoi(params["x"])
		return Output{Body: body(x), ContentType: "application/x-test", Logs: "ran\n"}, nil
	}
	ctx := context.Background()
	q := openQueue(t, pg.NewDatabase(t), "a", run, QueueOptions{Results: rs})
	submit := func(n int) *QueueJob {
		j, err := q.Submit(ctx, Spec{UDF: "big", Items: xs(n), MaxWorkers: 4})
		if err != nil {
			t.Fatal(err)
		}
		if s := waitQueueJob(t, j, time.Minute); s.OK != n {
			t.Fatalf("status %+v", s)
		}
		return j
	}
	j := submit(6)

	// The rows: keys for the large results, bytes for the small ones.
	r, err := q.b.db().query(ctx, `SELECT idx, result_key, COALESCE(length(result), 0), size FROM job_items WHERE job_id = $1 ORDER BY idx`, j.ID())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for r.Next() {
		var idx, inline int
		var size int64
		var key string
		if err := r.Scan(&idx, &key, &inline, &size); err != nil {
			t.Fatal(err)
		}
		if int(size) != len(body(idx)) {
			t.Errorf("item %d: size %d, want %d", idx, size, len(body(idx)))
		}
		if idx%2 == 0 {
			if !strings.HasPrefix(key, "_jobs/"+j.ID()+"/"+strconv.Itoa(idx)+"-") || inline != 0 {
				t.Errorf("item %d: key %q, %d bytes inline; want a key and no bytes", idx, key, inline)
			}
			keys = append(keys, "udft/"+key)
		} else if key != "" || inline != 100 {
			t.Errorf("item %d: key %q, %d bytes inline; want 100 bytes inline", idx, key, inline)
		}
	}
	r.Close()
	if got := minio.Objects(t, bucket, "udft/_jobs/"+j.ID()+"/"); strings.Join(got, ",") != strings.Join(keys, ",") || len(got) != 3 {
		t.Errorf("objects %v, want %v", got, keys)
	}
	out, err := minio.Client(t).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[0])})
	if err != nil || out.ContentType == nil || *out.ContentType != "application/x-test" {
		t.Errorf("the object's content type: %v %v", err, out)
	}

	n := 0
	if err := j.Results(ctx, func(it Item, b []byte) error {
		if it.Index != n || it.Status != OK || !bytes.Equal(b, body(n)) || it.ContentType != "application/x-test" {
			t.Errorf("result %d: %+v, %d bytes", n, it, len(b))
		}
		n++
		return nil
	}); err != nil || n != 6 {
		t.Errorf("results: %v, %d", err, n)
	}

	// Removing the job deletes its objects.
	if err := q.Delete(ctx, j.ID()); err != nil {
		t.Fatal(err)
	}
	if got := minio.Objects(t, bucket, "udft/_jobs/"+j.ID()+"/"); len(got) != 0 {
		t.Errorf("objects left after the job's removal: %v", got)
	}

	// The TTL's sweep too.
	j2 := submit(2)
	if got := minio.Objects(t, bucket, "udft/_jobs/"+j2.ID()+"/"); len(got) != 1 {
		t.Errorf("objects of the second job: %v", got)
	}
	q.opt.TTL = time.Nanosecond
	q.sweep(ctx)
	if _, err := j2.Status(ctx); err != ErrNotFound {
		t.Errorf("the expired job: %v", err)
	}
	if got := minio.Objects(t, bucket, "udft/_jobs/"+j2.ID()+"/"); len(got) != 0 {
		t.Errorf("objects left after the sweep: %v", got)
	}
}
