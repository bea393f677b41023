package export

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/udftiles/udftiles/tiles"
)

// TestConcurrentPuts puts from 8 goroutines while 2 others ask Has, into
// each kind of file sink.
func TestConcurrentPuts(t *testing.T) {
	all := pyramid(0, 6)
	want := map[tiles.Tile][]byte{}
	for _, tl := range all {
		want[tl] = []byte(fmt.Sprintf("tile %s %d", tl, tl.X%5)) // distinct
	}
	for _, name := range []string{"dir", "c.mbtiles", "c.pmtiles"} {
		t.Run(name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), name)
			s := mustOpen(t, dest, "png")
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(all); i += 8 {
						if err := s.Put(all[i], want[all[i]]); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for r := 0; r < 2; r++ {
				readers.Add(1)
				go func() {
					defer readers.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := s.Has(all[rand.IntN(len(all))]); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(stop)
			readers.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			mustHave(t, s, true, all...)
			if err := s.Finish(Metadata{MinZoom: 0, MaxZoom: 6}); err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.Tiles != int64(len(all)) || st.Unique != int64(len(all)) || st.Duplicates != 0 {
				t.Errorf("stats %+v, want %d distinct tiles", st, len(all))
			}
			sameTiles(t, name, readAll(t, dest), want)
		})
	}
}

// TestCloseWhilePutting: Puts racing with Close either succeed (and are
// committed) or fail with ErrClosed; nothing panics.
func TestCloseWhilePutting(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "c.mbtiles")
	s := mustOpen(t, dest, "png")
	all := pyramid(0, 6)
	var mu sync.Mutex
	accepted := map[tiles.Tile]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(all); i += 4 {
				err := s.Put(all[i], []byte(all[i].String()))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				accepted[all[i]] = true
				mu.Unlock()
			}
		}()
	}
	for { // let some Puts in first
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(accepted) == len(all) {
		t.Log("every Put was accepted before Close")
	}
	s = mustOpen(t, dest, "png")
	for tl := range accepted {
		mustHave(t, s, true, tl)
	}
	s.Close()
	t.Logf("%d Puts accepted before Close, all committed", len(accepted))
}

// BenchmarkPut puts distinct 16 KiB tiles (ns/op is per tile).
func BenchmarkPut(b *testing.B) {
	data := make([]byte, 16<<10)
	for _, name := range []string{"dir", "b.mbtiles", "b.pmtiles"} {
		b.Run(name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), name), "png")
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 1))
				buf := make([]byte, len(data))
				for pb.Next() {
					tl := tiles.Tile{Z: 20, X: r.IntN(1 << 20), Y: r.IntN(1 << 20)}
					for i := 0; i < len(buf); i += 8 {
						v := r.Uint64()
						for j := 0; j < 8; j++ {
							buf[i+j] = byte(v >> (8 * j))
						}
					}
					if err := s.Put(tl, buf); err != nil {
						b.Fatal(err)
					}
				}
			})
			if err := s.Finish(Metadata{MinZoom: 20, MaxZoom: 20}); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPMTilesFinish builds an archive of 100k tiles, a third of them
// duplicates (ns/op is per archive).
func BenchmarkPMTilesFinish(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dest := filepath.Join(b.TempDir(), "f.pmtiles")
		s, err := Open(dest, "png")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, tl := range pyramid(0, 9) {
			data := []byte(fmt.Sprintf("%s %0500d", tl, tl.X%3))
			if tl.X%3 == 0 {
				data = []byte("ocean")
			}
			if err := s.Put(tl, data); err != nil {
				b.Fatal(err)
			}
			if n++; n == 100000 {
				break
			}
		}
		st := s.(*pmtilesSink).st
		if err := st.flush(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Finish(Metadata{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEmptyExports: Finish without a single tile makes a valid, empty
// destination described by the metadata.
func TestEmptyExports(t *testing.T) {
	for _, name := range []string{"dir", "e.mbtiles", "e.pmtiles"} {
		dest := filepath.Join(t.TempDir(), name)
		s := mustOpen(t, dest, "webp")
		if err := s.Finish(Metadata{Name: "empty", MinZoom: 2, MaxZoom: 5}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := readAll(t, dest); len(got) != 0 {
			t.Errorf("%s: %d tiles", name, len(got))
		}
		md, err := ReadMetadata(dest)
		if err != nil || md.Name != "empty" || md.Format != "webp" || md.MinZoom != 2 || md.MaxZoom != 5 {
			t.Errorf("%s: metadata %+v %v", name, md, err)
		}
	}
}
