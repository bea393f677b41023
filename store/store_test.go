package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udftiles/udftiles/internal/pgtest"
)

// backend makes the URL of a new, empty database.
type backend struct {
	name   string
	newURL func(t *testing.T) string
}

// TestStore runs the same suite on SQLite (a file in a temporary directory)
// and on PostgreSQL (one server for the whole test, a database per subtest).
func TestStore(t *testing.T) {
	pg := pgtest.Start(t)
	backends := []backend{
		{"sqlite", func(t *testing.T) string {
			return "sqlite://" + filepath.Join(t.TempDir(), "udftiles.db")
		}},
		{"postgres", func(t *testing.T) string { return pg.NewDatabase(t) }},
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, b backend)
	}{
		{"Catalog", testCatalog},
		{"Tokens", testTokens},
		{"Drafts", testDrafts},
		{"Changes", testChanges},
		{"FollowReplicas", testFollowReplicas},
		{"FollowConcurrentWriters", testFollowConcurrentWriters},
		{"ConcurrentSaves", testConcurrentSaves},
		{"ConcurrentOwners", testConcurrentOwners},
		{"TokenUpdate", testTokenUpdate},
		{"Schema", testSchema},
		{"ConcurrentOpen", testConcurrentOpen},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
			}
		})
	}
	// Last: it restarts the server.
	t.Run("postgres/FollowSurvivesOutage", func(t *testing.T) { testFollowSurvivesOutage(t, pg) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(ctxT(t), url, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testLogger logs through t.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func ptr[T any](v T) *T { return &v }

func testCatalog(t *testing.T, b backend) {
	ctx := ctxT(t)
	s := open(t, b.newURL(t))
	before := time.Now().Add(-time.Second)

	meta1 := Meta{Description: "first", CacheMaxAge: "1h", Bounds: []float64{-10, -5.5, 10, 5.5}, MinZoom: ptr(2), MaxZoom: ptr(14),
		Parameters: map[string]any{"band": "red", "scale": 2.5, "list": []any{1.0, "x"}}, Public: true}
	u1 := must[UDF](t)(s.SaveUDF(ctx, "ndvi", Author{Name: "alice"}, "def udf(): return 1", meta1))
	if u1.Version != 1 || u1.Owner != "alice" || u1.Author != "alice" || u1.Name != "ndvi" {
		t.Errorf("first save: %+v", u1)
	}
	if u1.CodeHash != hashHex("def udf(): return 1") || len(u1.CodeHash) != 64 {
		t.Errorf("CodeHash = %q", u1.CodeHash)
	}
	if u1.UpdatedAt.Location() != time.UTC || u1.UpdatedAt.Before(before) || u1.UpdatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("UpdatedAt = %v", u1.UpdatedAt)
	}
	if !reflect.DeepEqual(u1.Meta, meta1) {
		t.Errorf("Meta = %+v, want %+v", u1.Meta, meta1)
	}
	got := must[UDF](t)(s.UDF(ctx, "ndvi"))
	if !reflect.DeepEqual(got, u1) {
		t.Errorf("UDF after save:\n got %+v\nwant %+v", got, u1)
	}

	// Bob may not change alice's UDF; nothing is written.
	_, err := s.SaveUDF(ctx, "ndvi", Author{Name: "bob"}, "def udf(): return 2", Meta{})
	var noe *NotOwnerError
	if !errors.Is(err, ErrNotOwner) || !errors.As(err, &noe) || noe.Owner != "alice" || noe.Name != "ndvi" {
		t.Errorf("bob saves alice's UDF: err = %v, want a NotOwnerError naming alice", err)
	}
	if got := must[UDF](t)(s.UDF(ctx, "ndvi")); got.Version != 1 {
		t.Errorf("after a refused save the UDF is at version %d, want 1", got.Version)
	}
	_, err = s.Restore(ctx, "ndvi", 1, Author{Name: "bob"})
	if !errors.Is(err, ErrNotOwner) {
		t.Errorf("bob restores alice's UDF: err = %v, want ErrNotOwner", err)
	}
	// An admin may.
	u2 := must[UDF](t)(s.SaveUDF(ctx, "ndvi", Author{Name: "bob", Admin: true}, "def udf(): return 2", Meta{Description: "second"}))
	if u2.Version != 2 || u2.Owner != "alice" || u2.Author != "bob" || u2.Meta.Description != "second" || u2.Meta.Public {
		t.Errorf("second save: %+v", u2)
	}
	got = must[UDF](t)(s.UDF(ctx, "ndvi"))
	if got.Version != 2 || got.Code != "def udf(): return 2" || got.Author != "bob" || got.Owner != "alice" {
		t.Errorf("UDF after second save: %+v", got)
	}
	must[UDF](t)(s.SaveUDF(ctx, "b-udf", Author{Name: "carol"}, "b", Meta{}))
	must[UDF](t)(s.SaveUDF(ctx, "a-udf", Author{Name: "carol"}, "a", Meta{}))
	must[UDF](t)(s.SaveUDF(ctx, "Z", Author{Name: "carol"}, "z", Meta{}))
	var names []string
	for _, u := range must[[]UDF](t)(s.UDFs(ctx)) {
		names = append(names, fmt.Sprintf("%s@%d", u.Name, u.Version))
	}
	if want := []string{"Z@1", "a-udf@1", "b-udf@1", "ndvi@2"}; !slices.Equal(names, want) {
		t.Errorf("UDFs = %v, want %v", names, want)
	}

	vs := must[[]Version](t)(s.Versions(ctx, "ndvi"))
	if len(vs) != 2 || vs[0].Version != 2 || vs[1].Version != 1 || vs[1].Author != "alice" ||
		vs[1].CodeHash != u1.CodeHash || !reflect.DeepEqual(vs[1].Meta, meta1) || !vs[1].CreatedAt.Equal(u1.UpdatedAt) {
		t.Errorf("Versions = %+v", vs)
	}
	v1 := must[UDF](t)(s.UDFVersion(ctx, "ndvi", 1))
	if !reflect.DeepEqual(v1, u1) {
		t.Errorf("UDFVersion 1:\n got %+v\nwant %+v", v1, u1)
	}
	_, err = s.UDFVersion(ctx, "ndvi", 3)
	wantNotFound(t, "UDFVersion 3", err)
	_, err = s.UDFVersion(ctx, "nope", 1)
	wantNotFound(t, "UDFVersion of a missing UDF", err)

	r := must[UDF](t)(s.Restore(ctx, "ndvi", 1, Author{Name: "dave", Admin: true}))
	if r.Version != 3 || r.Code != u1.Code || r.CodeHash != u1.CodeHash || !reflect.DeepEqual(r.Meta, meta1) || r.Author != "dave" || r.Owner != "alice" {
		t.Errorf("Restore: %+v", r)
	}
	if got := must[UDF](t)(s.UDF(ctx, "ndvi")); !reflect.DeepEqual(got, r) {
		t.Errorf("UDF after Restore:\n got %+v\nwant %+v", got, r)
	}
	_, err = s.Restore(ctx, "ndvi", 9, Author{Name: "dave"})
	wantNotFound(t, "Restore of a missing version", err)
	if n := len(must[[]Version](t)(s.Versions(ctx, "ndvi"))); n != 3 {
		t.Errorf("%d versions after a failed Restore, want 3", n)
	}

	plain, _ := must2(t)(s.CreateToken(ctx, "ndvi", "alice", TokenOptions{Enabled: true, Public: true}))
	if err := s.DeleteUDF(ctx, "ndvi"); err != nil {
		t.Fatal(err)
	}
	_, err = s.UDF(ctx, "ndvi")
	wantNotFound(t, "UDF after delete", err)
	_, err = s.Versions(ctx, "ndvi")
	wantNotFound(t, "Versions after delete", err)
	_, err = s.UDFVersion(ctx, "ndvi", 1)
	wantNotFound(t, "UDFVersion after delete", err)
	_, err = s.TokenByPlain(ctx, plain)
	wantNotFound(t, "token after its UDF's delete", err)
	if toks := must[[]Token](t)(s.Tokens(ctx, "ndvi")); len(toks) != 0 {
		t.Errorf("tokens after delete: %+v", toks)
	}
	wantNotFound(t, "DeleteUDF twice", s.DeleteUDF(ctx, "ndvi"))
	_, err = s.UDF(ctx, "never")
	wantNotFound(t, "UDF never saved", err)
	_, err = s.Versions(ctx, "never")
	wantNotFound(t, "Versions of a UDF never saved", err)
	if len(must[[]UDF](t)(s.UDFs(ctx))) != 3 {
		t.Error("UDFs after delete: want 3")
	}

	again := must[UDF](t)(s.SaveUDF(ctx, "ndvi", Author{Name: "erin"}, "new", Meta{}))
	if again.Version != 1 || again.Owner != "erin" {
		t.Errorf("save after delete: %+v, want version 1 owned by erin", again)
	}

	// Empty names are refused.
	if _, err := s.SaveUDF(ctx, "", Author{Name: "a"}, "c", Meta{}); err == nil {
		t.Error("SaveUDF with an empty name: no error")
	}
	if _, err := s.UDF(ctx, ""); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("UDF(\"\"): err = %v", err)
	}
	if err := s.DeleteUDF(ctx, ""); err == nil {
		t.Error("DeleteUDF with an empty name: no error")
	}
	if _, _, err := s.CreateToken(ctx, "", "a", TokenOptions{}); err == nil {
		t.Error("CreateToken with an empty name: no error")
	}
}

func must2(t *testing.T) func(plain string, tok Token, err error) (string, Token) {
	return func(plain string, tok Token, err error) (string, Token) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return plain, tok
	}
}

var plainRE = regexp.MustCompile(`^fsh_[0-9a-f]{32}$`)

func testTokens(t *testing.T, b backend) {
	ctx := ctxT(t)
	s := open(t, b.newURL(t))
	_, _, err := s.CreateToken(ctx, "missing", "alice", TokenOptions{Enabled: true})
	wantNotFound(t, "CreateToken of a missing UDF", err)

	must[UDF](t)(s.SaveUDF(ctx, "ndvi", Author{Name: "alice"}, "code", Meta{}))
	must[UDF](t)(s.SaveUDF(ctx, "other", Author{Name: "alice"}, "code", Meta{}))
	exp := time.Now().Add(time.Hour)
	p1, t1 := must2(t)(s.CreateToken(ctx, "ndvi", "alice", TokenOptions{Enabled: true, Cache: true, Public: true, ExpiresAt: &exp}))
	p2, t2 := must2(t)(s.CreateToken(ctx, "ndvi", "bob", TokenOptions{Enabled: true}))
	p3, t3 := must2(t)(s.CreateToken(ctx, "ndvi", "bob", TokenOptions{Enabled: false}))
	past := time.Now().Add(-time.Minute)
	p4, t4 := must2(t)(s.CreateToken(ctx, "ndvi", "bob", TokenOptions{Enabled: true, ExpiresAt: &past}))
	_, t5 := must2(t)(s.CreateToken(ctx, "other", "bob", TokenOptions{Enabled: true}))

	for _, p := range []string{p1, p2, p3, p4} {
		if !plainRE.MatchString(p) {
			t.Errorf("token %q does not match %s", p, plainRE)
		}
	}
	ids := map[string]bool{}
	for _, tk := range []Token{t1, t2, t3, t4, t5} {
		if tk.ID == "" || len(tk.ID) > 16 || ids[tk.ID] {
			t.Errorf("token ID %q: empty, long or repeated", tk.ID)
		}
		ids[tk.ID] = true
	}
	if t1.Prefix != p1[:8] || t1.UDF != "ndvi" || t1.Owner != "alice" || !t1.Cache || !t1.Public || !t1.Enabled ||
		t1.ExpiresAt == nil || t1.ExpiresAt.Sub(exp).Abs() > time.Microsecond || t1.RevokedAt != nil || t1.CreatedAt.Location() != time.UTC {
		t.Errorf("CreateToken returned %+v", t1)
	}

	got := must[Token](t)(s.TokenByPlain(ctx, p1))
	if !reflect.DeepEqual(got, t1) {
		t.Errorf("TokenByPlain:\n got %+v\nwant %+v", got, t1)
	}
	for _, bad := range []string{"", "fsh_", p1[:len(p1)-1], "x" + p1[1:], strings.ToUpper(p1)} {
		_, err := s.TokenByPlain(ctx, bad)
		wantNotFound(t, fmt.Sprintf("TokenByPlain(%q)", bad), err)
	}

	now := time.Now()
	usable := map[string]bool{t1.ID: true, t2.ID: true, t3.ID: false, t4.ID: false}
	for _, p := range []string{p1, p2, p3, p4} {
		tk := must[Token](t)(s.TokenByPlain(ctx, p))
		if tk.Usable(now) != usable[tk.ID] {
			t.Errorf("token %s (%+v): Usable = %v, want %v", tk.ID, tk.TokenOptions, tk.Usable(now), usable[tk.ID])
		}
	}
	if t1.Usable(exp.Add(time.Second)) {
		t.Error("token usable after it expired")
	}

	list := must[[]Token](t)(s.Tokens(ctx, "ndvi"))
	var listed []string
	for _, tk := range list {
		listed = append(listed, tk.ID)
	}
	if want := []string{t4.ID, t3.ID, t2.ID, t1.ID}; !slices.Equal(listed, want) {
		t.Errorf("Tokens = %v, want newest first %v", listed, want)
	}

	if err := s.RevokeToken(ctx, "ndvi", t2.ID); err != nil {
		t.Fatal(err)
	}
	rv := must[Token](t)(s.TokenByPlain(ctx, p2))
	if rv.RevokedAt == nil || rv.Usable(time.Now()) || rv.RevokedAt.Location() != time.UTC {
		t.Errorf("revoked token: %+v", rv)
	}
	first := *rv.RevokedAt
	if err := s.RevokeToken(ctx, "ndvi", t2.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if rv2 := must[Token](t)(s.TokenByPlain(ctx, p2)); !rv2.RevokedAt.Equal(first) {
		t.Errorf("revoking twice moved RevokedAt from %v to %v", first, rv2.RevokedAt)
	}
	if n := len(must[[]Token](t)(s.Tokens(ctx, "ndvi"))); n != 4 {
		t.Errorf("%d tokens listed after a revoke, want 4 (revoked ones too)", n)
	}
	wantNotFound(t, "revoking an unknown id", s.RevokeToken(ctx, "ndvi", "nope"))
	wantNotFound(t, "revoking a token of another UDF", s.RevokeToken(ctx, "ndvi", t5.ID))
	if tk := must[Token](t)(s.TokenByPlain(ctx, p1)); tk.RevokedAt != nil {
		t.Errorf("revoking another token touched %+v", tk)
	}
	if toks := must[[]Token](t)(s.Tokens(ctx, "missing")); len(toks) != 0 {
		t.Errorf("Tokens of a missing UDF: %+v", toks)
	}
}

func testDrafts(t *testing.T, b backend) {
	ctx := ctxT(t)
	s := open(t, b.newURL(t))
	d1 := must[Draft](t)(s.SaveDraft(ctx, "alice", "print(1)"))
	if d1.ID != hashHex("print(1)") || d1.Code != "print(1)" || d1.Author != "alice" || d1.CreatedAt.IsZero() {
		t.Errorf("SaveDraft: %+v", d1)
	}
	time.Sleep(5 * time.Millisecond)
	d1b := must[Draft](t)(s.SaveDraft(ctx, "bob", "print(1)"))
	if !reflect.DeepEqual(d1b, d1) {
		t.Errorf("saving a draft again:\n got %+v\nwant %+v", d1b, d1)
	}
	d2 := must[Draft](t)(s.SaveDraft(ctx, "bob", "print(2)"))
	if d2.ID == d1.ID {
		t.Error("two codes, one draft ID")
	}
	if got := must[Draft](t)(s.Draft(ctx, d1.ID)); !reflect.DeepEqual(got, d1) {
		t.Errorf("Draft:\n got %+v\nwant %+v", got, d1)
	}
	_, err := s.Draft(ctx, hashHex("never"))
	wantNotFound(t, "Draft never saved", err)

	if n := must[int](t)(s.PruneDrafts(ctx, time.Now().Add(-time.Hour))); n != 0 {
		t.Errorf("PruneDrafts(an hour ago) = %d, want 0", n)
	}
	if n := must[int](t)(s.PruneDrafts(ctx, time.Now().Add(time.Second))); n != 2 {
		t.Errorf("PruneDrafts(now) = %d, want 2", n)
	}
	_, err = s.Draft(ctx, d1.ID)
	wantNotFound(t, "Draft after prune", err)
}

func kindsOf(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind+":"+c.Name)
	}
	return out
}

func testChanges(t *testing.T, b backend) {
	ctx := ctxT(t)
	s := open(t, b.newURL(t))
	if n := must[int64](t)(s.LastChange(ctx)); n != 0 {
		t.Errorf("LastChange of an empty log = %d", n)
	}
	if cs := must[[]Change](t)(s.Changes(ctx, 0, 10)); len(cs) != 0 {
		t.Errorf("Changes of an empty log: %+v", cs)
	}
	must[UDF](t)(s.SaveUDF(ctx, "a", Author{Name: "alice"}, "1", Meta{}))
	must[UDF](t)(s.SaveUDF(ctx, "a", Author{Name: "alice"}, "2", Meta{}))
	_, tok := must2(t)(s.CreateToken(ctx, "a", "alice", TokenOptions{Enabled: true}))
	if err := s.RevokeToken(ctx, "a", tok.ID); err != nil {
		t.Fatal(err)
	}
	seq := must[int64](t)(s.Record(ctx, ChangePurge, "a", `{"z":3}`))
	must[UDF](t)(s.Restore(ctx, "a", 1, Author{Name: "bob", Admin: true}))
	if err := s.DeleteUDF(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Failed writes record nothing.
	s.DeleteUDF(ctx, "a")
	s.CreateToken(ctx, "a", "alice", TokenOptions{})
	s.Restore(ctx, "a", 1, Author{Name: "bob", Admin: true})

	all := must[[]Change](t)(s.Changes(ctx, 0, 0))
	want := []string{"udf:a", "udf:a", "token:a", "token:a", "purge:a", "udf:a", "udf:a"}
	if got := kindsOf(all); !slices.Equal(got, want) {
		t.Fatalf("changes = %v, want %v", got, want)
	}
	for i, c := range all {
		if i > 0 && c.Seq <= all[i-1].Seq {
			t.Errorf("seqs out of order: %d after %d", c.Seq, all[i-1].Seq)
		}
		if c.At.IsZero() || c.At.Location() != time.UTC || time.Since(c.At) > time.Minute {
			t.Errorf("change %d at %v", c.Seq, c.At)
		}
	}
	if all[4].Seq != seq || all[4].Data != `{"z":3}` {
		t.Errorf("Record returned %d; the change is %+v", seq, all[4])
	}
	if all[0].Data != `{"version":1}` || all[1].Data != `{"version":2}` || all[5].Data != `{"version":3,"restored_from":1}` ||
		all[6].Data != `{"version":3,"deleted":true}` || all[2].Data != `{"id":"`+tok.ID+`"}` || all[3].Data != `{"id":"`+tok.ID+`","revoked":true}` {
		t.Errorf("change data: %v", all)
	}
	if last := must[int64](t)(s.LastChange(ctx)); last != all[6].Seq {
		t.Errorf("LastChange = %d, want %d", last, all[6].Seq)
	}
	page := must[[]Change](t)(s.Changes(ctx, all[1].Seq, 2))
	if len(page) != 2 || page[0].Seq != all[2].Seq || page[1].Seq != all[3].Seq {
		t.Errorf("Changes(after %d, 2) = %+v", all[1].Seq, page)
	}
	if cs := must[[]Change](t)(s.Changes(ctx, all[6].Seq, 10)); len(cs) != 0 {
		t.Errorf("Changes after the last: %+v", cs)
	}

	if n := must[int](t)(s.PruneChanges(ctx, time.Now().Add(-time.Hour))); n != 0 {
		t.Errorf("PruneChanges(an hour ago) = %d", n)
	}
	if n := must[int](t)(s.PruneChanges(ctx, time.Now().Add(time.Hour))); n != 6 {
		t.Errorf("PruneChanges(in an hour) = %d, want 6 (all but the newest)", n)
	}
	if last := must[int64](t)(s.LastChange(ctx)); last != all[6].Seq {
		t.Errorf("LastChange after pruning = %d, want %d", last, all[6].Seq)
	}
	// Seqs go on from where they were, even after pruning.
	next := must[int64](t)(s.Record(ctx, ChangePurge, "b", ""))
	if next <= all[6].Seq {
		t.Errorf("seq after pruning = %d, want > %d", next, all[6].Seq)
	}
}

// follower runs Follow on a goroutine and collects what it delivers.
type follower struct {
	mu   sync.Mutex
	got  []Change
	cond chan struct{} // closed and replaced at each delivery
	done chan error
}

func follow(t *testing.T, s *Store, after int64, every time.Duration) *follower {
	f := &follower{cond: make(chan struct{}), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		f.done <- s.Follow(ctx, after, every, func(c Change) {
			f.mu.Lock()
			f.got = append(f.got, c)
			close(f.cond)
			f.cond = make(chan struct{})
			f.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-f.done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Follow returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Follow did not return 10s after its context was cancelled")
		}
	})
	return f
}

// waitSeq waits until the follower has delivered seq, at most d; it returns
// how long that took.
func (f *follower) waitSeq(t *testing.T, seq int64, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(d)
	for {
		f.mu.Lock()
		n := len(f.got)
		reached := n > 0 && f.got[n-1].Seq >= seq
		cond := f.cond
		f.mu.Unlock()
		if reached {
			return time.Since(start)
		}
		select {
		case <-cond:
		case <-deadline:
			t.Fatalf("change %d not delivered within %s (delivered %d changes)", seq, d, n)
		}
	}
}

func (f *follower) changes() []Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// sameChanges fails unless got is exactly want (seqs and kinds), in order.
func sameChanges(t *testing.T, what string, got, want []Change) {
	t.Helper()
	seqs := func(cs []Change) []int64 {
		var out []int64
		for _, c := range cs {
			out = append(out, c.Seq)
		}
		return out
	}
	if !slices.Equal(seqs(got), seqs(want)) {
		t.Errorf("%s: delivered seqs\n%v\nwant\n%v", what, seqs(got), seqs(want))
	}
}

// testFollowReplicas: two stores on one database are two replicas; what
// either writes reaches the other's Follow at once, every change once, in
// order.
func testFollowReplicas(t *testing.T, b backend) {
	ctx := ctxT(t)
	url := b.newURL(t)
	a, r := open(t, url), open(t, url)
	must[UDF](t)(a.SaveUDF(ctx, "before", Author{Name: "alice"}, "x", Meta{}))
	start := must[int64](t)(r.LastChange(ctx))

	fr := follow(t, r, start, 0)   // the replica, default polling
	fa := follow(t, a, start-1, 0) // the writer, from one change earlier

	u := must[UDF](t)(a.SaveUDF(ctx, "ndvi", Author{Name: "alice"}, "code", Meta{}))
	last := must[int64](t)(a.LastChange(ctx))
	took := fr.waitSeq(t, last, time.Second)
	t.Logf("a save through one store reached the other's Follow in %s", took)
	got := fr.changes()
	if len(got) != 1 || got[0].Kind != ChangeUDF || got[0].Name != u.Name || got[0].Data != `{"version":1}` {
		t.Errorf("replica got %+v", got)
	}

	// Writes through both stores; both followers see all of them.
	for i := range 10 {
		w := a
		if i%2 == 1 {
			w = r
		}
		must[UDF](t)(w.SaveUDF(ctx, fmt.Sprintf("u%d", i), Author{Name: "alice"}, "x", Meta{}))
		must[int64](t)(w.Record(ctx, ChangePurge, "ndvi", ""))
	}
	last = must[int64](t)(a.LastChange(ctx))
	fr.waitSeq(t, last, 5*time.Second)
	fa.waitSeq(t, last, 5*time.Second)
	sameChanges(t, "replica", fr.changes(), must[[]Change](t)(a.Changes(ctx, start, 0)))
	sameChanges(t, "writer", fa.changes(), must[[]Change](t)(a.Changes(ctx, start-1, 0)))

	if b.name == "postgres" {
		// With polling far apart, only LISTEN/NOTIFY can deliver in time.
		slow := follow(t, r, last, time.Hour)
		time.Sleep(300 * time.Millisecond) // past the first poll
		seq := must[int64](t)(a.Record(ctx, ChangePurge, "ndvi", `{"all":true}`))
		took := slow.waitSeq(t, seq, time.Second)
		t.Logf("with hourly polls, a change was notified in %s", took)
		if got := slow.changes(); len(got) != 1 || got[0].Seq != seq {
			t.Errorf("notified follower got %+v", got)
		}
	}
}

// testFollowConcurrentWriters: many writers at once, followers polling hard;
// no change may be skipped (on PostgreSQL, a seq committing after a higher
// one would be).
func testFollowConcurrentWriters(t *testing.T, b backend) {
	ctx := ctxT(t)
	url := b.newURL(t)
	stores := []*Store{open(t, url), open(t, url)}
	must[UDF](t)(stores[0].SaveUDF(ctx, "u", Author{Name: "alice"}, "x", Meta{}))
	f1 := follow(t, stores[0], 0, time.Millisecond)
	f2 := follow(t, stores[1], 0, 5*time.Millisecond)

	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			for i := range each {
				var err error
				switch i % 3 {
				case 0:
					_, err = s.SaveUDF(ctx, "u", Author{Name: fmt.Sprint(w), Admin: true}, fmt.Sprint(i), Meta{})
				case 1:
					_, _, err = s.CreateToken(ctx, "u", fmt.Sprint(w), TokenOptions{Enabled: true})
				default:
					_, err = s.Record(ctx, ChangePurge, "u", fmt.Sprint(w, i))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := must[[]Change](t)(stores[0].Changes(ctx, 0, 0))
	if len(all) != 1+writers*each {
		t.Fatalf("%d changes, want %d", len(all), 1+writers*each)
	}
	last := all[len(all)-1].Seq
	f1.waitSeq(t, last, 5*time.Second)
	f2.waitSeq(t, last, 5*time.Second)
	sameChanges(t, "follower 1", f1.changes(), all)
	sameChanges(t, "follower 2", f2.changes(), all)
}

func testConcurrentSaves(t *testing.T, b backend) {
	ctx := ctxT(t)
	url := b.newURL(t)
	stores := []*Store{open(t, url), open(t, url)}
	const each = 15
	var wg sync.WaitGroup
	versions := make([][]int, 2)
	errs := make([]error, 2)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				u, err := stores[g].SaveUDF(ctx, "same", Author{Name: fmt.Sprint("writer", g), Admin: true}, fmt.Sprint(g, i), Meta{})
				if err != nil {
					errs[g] = err
					return
				}
				versions[g] = append(versions[g], u.Version)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(versions[0]), versions[1]...)
	slices.Sort(all)
	for i, v := range all {
		if v != i+1 {
			t.Fatalf("versions of concurrent saves: %v, want 1..%d each once", all, 2*each)
		}
	}
	vs := must[[]Version](t)(stores[0].Versions(ctx, "same"))
	if len(vs) != 2*each || vs[0].Version != 2*each {
		t.Errorf("%d versions, newest %d", len(vs), vs[0].Version)
	}
	// Each version holds the code its save wrote.
	for g := range 2 {
		for i, v := range versions[g] {
			u := must[UDF](t)(stores[1-g].UDFVersion(ctx, "same", v))
			if u.Code != fmt.Sprint(g, i) || u.Author != fmt.Sprint("writer", g) {
				t.Errorf("version %d: code %q by %s, want %q by writer%d", v, u.Code, u.Author, fmt.Sprint(g, i), g)
			}
		}
	}
	cur := must[UDF](t)(stores[0].UDF(ctx, "same"))
	if cur.Version != 2*each {
		t.Errorf("current version %d, want %d", cur.Version, 2*each)
	}
}

// testConcurrentOwners: two authors save the same new names at once, from
// two handles of the database. For each name one of them creates it and
// owns every version; the other is refused with a NotOwnerError naming the
// first, and none of its code is saved.
func testConcurrentOwners(t *testing.T, b backend) {
	ctx := ctxT(t)
	url := b.newURL(t)
	stores := []*Store{open(t, url), open(t, url)}
	const names, each = 12, 3
	authors := []string{"alice", "bob"}
	type result struct {
		saved   int
		refused []*NotOwnerError
		err     error
	}
	for n := range names {
		name := fmt.Sprint("race", n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		res := make([]result, 2)
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range each {
					_, err := stores[g].SaveUDF(ctx, name, Author{Name: authors[g]}, fmt.Sprint(authors[g], i), Meta{})
					var noe *NotOwnerError
					switch {
					case err == nil:
						res[g].saved++
					case errors.As(err, &noe) && errors.Is(err, ErrNotOwner):
						res[g].refused = append(res[g].refused, noe)
					default:
						res[g].err = err
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		for g := range 2 {
			if res[g].err != nil {
				t.Fatalf("%s by %s: %v", name, authors[g], res[g].err)
			}
		}
		u := must[UDF](t)(stores[0].UDF(ctx, name))
		owner := slices.Index(authors, u.Owner)
		if owner < 0 {
			t.Fatalf("%s is owned by %q", name, u.Owner)
		}
		other := 1 - owner
		if res[owner].saved != each || len(res[owner].refused) != 0 {
			t.Errorf("%s: its owner %s saved %d times and was refused %d times, want %d and 0", name, u.Owner, res[owner].saved, len(res[owner].refused), each)
		}
		if res[other].saved != 0 || len(res[other].refused) != each {
			t.Errorf("%s (owned by %s): %s saved %d times, want every save refused", name, u.Owner, authors[other], res[other].saved)
		}
		for _, e := range res[other].refused {
			if e.Owner != u.Owner || e.Name != name {
				t.Errorf("%s: refusal %q, want one naming %s", name, e, u.Owner)
			}
		}
		vs := must[[]Version](t)(stores[1].Versions(ctx, name))
		if len(vs) != each {
			t.Errorf("%s has %d versions, want %d (its owner's)", name, len(vs), each)
		}
		for _, v := range vs {
			got := must[UDF](t)(stores[1].UDFVersion(ctx, name, v.Version))
			if v.Author != u.Owner || !strings.HasPrefix(got.Code, u.Owner) {
				t.Errorf("%s version %d: code %q by %s, in a UDF owned by %s", name, v.Version, got.Code, v.Author, u.Owner)
			}
		}
	}
}

// testTokenUpdate: a token disabled and enabled again, its cache and expiry
// changed, each with a ChangeToken change; revoked tokens stay as they are.
func testTokenUpdate(t *testing.T, b backend) {
	ctx := ctxT(t)
	s := open(t, b.newURL(t))
	must[UDF](t)(s.SaveUDF(ctx, "u", Author{Name: "alice"}, "code", Meta{}))
	plain, tok := must2(t)(s.CreateToken(ctx, "u", "alice", TokenOptions{Enabled: true, Cache: true, Public: true}))
	last := must[int64](t)(s.LastChange(ctx))
	off, on := false, true
	got := must[Token](t)(s.UpdateToken(ctx, "u", tok.ID, TokenUpdate{Enabled: &off}))
	if got.Enabled || !got.Cache || got.ExpiresAt != nil {
		t.Errorf("disabled: %+v", got)
	}
	if read := must[Token](t)(s.TokenByPlain(ctx, plain)); read.Usable(time.Now()) || read.Enabled {
		t.Errorf("a disabled token reads as %+v", read)
	}
	cs := must[[]Change](t)(s.Changes(ctx, last, 0))
	if len(cs) != 1 || cs[0].Kind != ChangeToken || cs[0].Name != "u" || !strings.Contains(cs[0].Data, tok.ID) {
		t.Errorf("changes after an update: %+v", cs)
	}
	exp := time.Now().Add(time.Hour)
	pexp := &exp
	got = must[Token](t)(s.UpdateToken(ctx, "u", tok.ID, TokenUpdate{Enabled: &on, Cache: &off, Expiry: &pexp}))
	read := must[Token](t)(s.TokenByPlain(ctx, plain))
	if !read.Enabled || read.Cache || read.ExpiresAt == nil || !read.ExpiresAt.Equal(exp.UTC().Truncate(time.Microsecond)) || !read.Usable(time.Now()) {
		t.Errorf("enabled, uncached, expiring: %+v (answered %+v)", read, got)
	}
	var never *time.Time
	must[Token](t)(s.UpdateToken(ctx, "u", tok.ID, TokenUpdate{Expiry: &never}))
	if read := must[Token](t)(s.TokenByPlain(ctx, plain)); read.ExpiresAt != nil || !read.Enabled || read.Cache {
		t.Errorf("expiry cleared: %+v", read)
	}
	_, err := s.UpdateToken(ctx, "u", "nope", TokenUpdate{Enabled: &on})
	wantNotFound(t, "UpdateToken of a missing token", err)
	_, err = s.UpdateToken(ctx, "other", tok.ID, TokenUpdate{Enabled: &on})
	wantNotFound(t, "UpdateToken under another UDF", err)
	if err := s.RevokeToken(ctx, "u", tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateToken(ctx, "u", tok.ID, TokenUpdate{Enabled: &on}); !errors.Is(err, ErrRevoked) {
		t.Errorf("UpdateToken of a revoked token: err = %v, want ErrRevoked", err)
	}
}

func gooseRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM goose_db_version`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// newestSchema is the number of the newest migration.
const newestSchema = 3

func testSchema(t *testing.T, b backend) {
	ctx := ctxT(t)
	url := b.newURL(t)
	s := open(t, url)
	if s.Dialect() != b.name {
		t.Errorf("Dialect = %q, want %q", s.Dialect(), b.name)
	}
	v := must[int64](t)(s.SchemaVersion(ctx))
	if v != newestSchema {
		t.Errorf("SchemaVersion = %d, want %d", v, newestSchema)
	}
	rows := gooseRows(t, s)
	must[UDF](t)(s.SaveUDF(ctx, "keep", Author{Name: "alice"}, "code", Meta{Description: "kept"}))
	plain, _ := must2(t)(s.CreateToken(ctx, "keep", "alice", TokenOptions{Enabled: true}))
	d := must[Draft](t)(s.SaveDraft(ctx, "alice", "draft"))
	last := must[int64](t)(s.LastChange(ctx))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening migrates nothing, and everything is still there.
	s2 := open(t, url)
	if n := gooseRows(t, s2); n != rows {
		t.Errorf("goose_db_version has %d rows after a reopen, had %d", n, rows)
	}
	if v := must[int64](t)(s2.SchemaVersion(ctx)); v != newestSchema {
		t.Errorf("SchemaVersion after reopen = %d", v)
	}
	if u := must[UDF](t)(s2.UDF(ctx, "keep")); u.Code != "code" || u.Meta.Description != "kept" {
		t.Errorf("after reopen: %+v", u)
	}
	must[Token](t)(s2.TokenByPlain(ctx, plain))
	must[Draft](t)(s2.Draft(ctx, d.ID))
	if l := must[int64](t)(s2.LastChange(ctx)); l != last {
		t.Errorf("LastChange after reopen = %d, want %d", l, last)
	}

	// A newer server migrated the database: this one refuses it.
	if _, err := s2.DB().Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, $2)`, 99, true); err != nil {
		t.Fatal(err)
	}
	rows = gooseRows(t, s2)
	s2.Close()
	s3, err := Open(ctx, url, WithLogger(testLogger(t)))
	if err == nil {
		s3.Close()
		t.Fatal("Open of a database at schema version 99: no error")
	}
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open of a database at schema version 99: %v, want ErrNewerSchema", err)
	}
	t.Logf("newer schema: %v", err)
	// ... and changed nothing.
	s4 := openRaw(t, b, url)
	if n := gooseRows(t, s4); n != rows {
		t.Errorf("goose_db_version has %d rows after the refused open, had %d", n, rows)
	}
}

// openRaw is a Store on url without Open's migration (to look at a database
// Open refuses).
func openRaw(t *testing.T, b backend, url string) *Store {
	t.Helper()
	var s *Store
	switch b.name {
	case "sqlite":
		db, err := openSQLite(strings.TrimPrefix(url, "sqlite://"))
		if err != nil {
			t.Fatal(err)
		}
		s = &Store{db: db, dialect: SQLite}
	default:
		s = &Store{dialect: Postgres}
		var err error
		if s.db, err = sql.Open("pgx", url); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testConcurrentOpen: replicas starting together on a new database migrate
// it once.
func testConcurrentOpen(t *testing.T, b backend) {
	ctx := ctxT(t)
	url := b.newURL(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, url, WithLogger(testLogger(t)))
		}()
	}
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
		}
	}
	if t.Failed() {
		return
	}
	// The version table holds version 0 and version 1, once each.
	var applied int
	if err := stores[0].DB().QueryRow(`SELECT COUNT(*) FROM goose_db_version WHERE version_id = 1`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("migration 1 recorded %d times", applied)
	}
	for i, s := range stores {
		if _, err := s.SaveUDF(ctx, fmt.Sprint("u", i), Author{Name: "a"}, "c", Meta{}); err != nil {
			t.Errorf("store %d: %v", i, err)
		}
	}
}

func TestOpenURLs(t *testing.T) {
	ctx := ctxT(t)
	for _, bad := range []string{"", "mysql://x", "/abs/path.db", "sqlite:", "sqlite://", "file:x.db", "sqlite:///x.db?mode=ro"} {
		s, err := Open(ctx, bad)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", bad)
			continue
		}
		t.Logf("Open(%q): %v", bad, err)
	}
	_, err := Open(ctx, "mysql://user:secret@host/db")
	if err == nil || !strings.Contains(err.Error(), "sqlite://") || !strings.Contains(err.Error(), "postgres://") || strings.Contains(err.Error(), "secret") {
		t.Errorf("error of an unsupported URL should name the accepted forms and hide the password: %v", err)
	}

	// A relative path is relative to the working directory; its directory
	// is created.
	dir := t.TempDir()
	t.Chdir(dir)
	s := open(t, "sqlite://data/sub/rel.db")
	must[UDF](t)(s.SaveUDF(ctx, "x", Author{Name: "a"}, "c", Meta{}))
	if _, err := os.Stat(filepath.Join(dir, "data", "sub", "rel.db")); err != nil {
		t.Errorf("relative SQLite path: %v", err)
	}
	// An absolute one, in a directory that does not exist yet.
	abs := filepath.Join(t.TempDir(), "a", "b", "abs.db")
	s2 := open(t, "sqlite://"+abs)
	must[UDF](t)(s2.SaveUDF(ctx, "x", Author{Name: "a"}, "c", Meta{}))
	if _, err := os.Stat(abs); err != nil {
		t.Errorf("absolute SQLite path: %v", err)
	}

	// In memory: a database of its own, fully working.
	m := open(t, "sqlite://:memory:")
	must[UDF](t)(m.SaveUDF(ctx, "x", Author{Name: "a"}, "c", Meta{}))
	must[UDF](t)(m.SaveUDF(ctx, "x", Author{Name: "a"}, "d", Meta{}))
	if u := must[UDF](t)(m.UDF(ctx, "x")); u.Version != 2 {
		t.Errorf("in memory: %+v", u)
	}
	f := follow(t, m, 0, 10*time.Millisecond)
	f.waitSeq(t, 2, time.Second)
	m2 := open(t, "sqlite://:memory:")
	if _, err := m2.UDF(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("two in-memory stores share data: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5432/db?x=1":  "postgres://u:xxxxx@h:5432/db?x=1",
		"postgres://u@h/db":             "postgres://u@h/db",
		"postgresql://h/db":             "postgresql://h/db",
		"postgres://u:p%40ss@h/db":      "postgres://u:xxxxx@h/db",
		"sqlite:///a@b/c.db":            "sqlite:///a@b/c.db",
		"postgres://u:p@h/db?email=a@b": "postgres://u:xxxxx@h/db?email=a@b",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// testFollowSurvivesOutage: PostgreSQL goes away and comes back; Follow
// (its polls and its LISTEN connection) carries on, every change once.
func testFollowSurvivesOutage(t *testing.T, pg *pgtest.Server) {
	ctx := ctxT(t)
	url := pg.NewDatabase(t)
	a, r := open(t, url), open(t, url)
	must[UDF](t)(a.SaveUDF(ctx, "u", Author{Name: "alice"}, "1", Meta{}))
	f := follow(t, r, 0, 50*time.Millisecond)
	f.waitSeq(t, 1, 5*time.Second)

	pg.Stop()
	time.Sleep(500 * time.Millisecond) // Follow fails meanwhile, and retries
	pg.Start()

	// The pool's connections died with the server: a write may fail once
	// before the pool replaces them.
	var last int64
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; i < 3; {
		seq, err := a.Record(ctx, ChangePurge, "u", fmt.Sprint(i))
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("writes fail after the restart: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		last = seq
		i++
	}
	took := f.waitSeq(t, last, 15*time.Second)
	t.Logf("after the restart, changes reached Follow in %s", took)
	sameChanges(t, "after an outage", f.changes(), must[[]Change](t)(a.Changes(ctx, 0, 0)))

	// Notifications work again too: a follower polling hourly hears of a change.
	slow := follow(t, r, last, time.Hour)
	time.Sleep(300 * time.Millisecond)
	seq := must[int64](t)(a.Record(ctx, ChangePurge, "u", "notified"))
	slow.waitSeq(t, seq, 2*time.Second)
}
