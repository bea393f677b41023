package export

import (
	"bufio"
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udftiles/udftiles/tiles"
)

// The tests re-execute their own binary as a helper process: with helperEnv
// set, TestMain runs helperMain instead of the tests.
const helperEnv = "EXPORT_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

func helperMain() int {
	var err error
	switch mode := os.Getenv(helperEnv); mode {
	case "put":
		err = helperPut(os.Getenv("EXPORT_DEST"))
	case "tinyfs":
		err = helperTinyFS(os.Getenv("EXPORT_DIR"), os.Getenv("EXPORT_PMTILES"))
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Println("helper failed:", err)
		return 1
	}
	return 0
}

// killPalette is the helper's tiles: 256 PNGs, tile t gets killPalette[killIndex(t)].
func killPalette(t testing.TB) [][]byte {
	p := make([][]byte, 256)
	for i := range p {
		p[i] = pngTile(t, color.NRGBA{R: uint8(i), G: uint8(255 - i), B: uint8(i * 7), A: 255})
	}
	return p
}

func killIndex(tl tiles.Tile) int { return (tl.X*7 + tl.Y*13 + tl.Z*101) % 256 }

// helperPut puts the tiles of zooms 0..9 in order, says "going" once some are
// committed, then keeps putting until it is killed (or Finishes and waits).
func helperPut(dest string) error {
	tb := &helperTB{}
	palette := killPalette(tb)
	s, err := Open(dest, "png")
	if err != nil {
		return err
	}
	said := false
	for i, tl := range pyramid(0, 9) {
		if err := s.Put(tl, palette[killIndex(tl)]); err != nil {
			return err
		}
		if !said && i%100 == 0 && s.Stats().Tiles >= 1000 {
			fmt.Println("going")
			said = true
		}
	}
	if err := s.Finish(Metadata{MinZoom: 0, MaxZoom: 9}); err != nil {
		return err
	}
	fmt.Println("finished")
	select {}
}

// helperTB lets the tile generators run outside a test.
type helperTB struct{ testing.TB }

func (*helperTB) Helper()                   {}
func (*helperTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (*helperTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// TestKilledExportResumes SIGKILLs a process that puts tiles at a random
// moment, then reopens its destination (staging database or directory and
// journal): Has reports the committed tiles
// (a prefix of what was put, with no holes), Finish completes it, and the
// archive passes the independent readers.
func TestKilledExportResumes(t *testing.T) {
	palette := killPalette(t)
	order := pyramid(0, 9)
	for _, ext := range []string{"mbtiles", "pmtiles", "dir"} {
		for round := 1; round <= 2; round++ {
			t.Run(fmt.Sprintf("%s/%d", ext, round), func(t *testing.T) {
				dest := filepath.Join(t.TempDir(), "killed."+ext)
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), helperEnv+"=put", "EXPORT_DEST="+dest)
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer cmd.Process.Kill()
				lines := bufio.NewScanner(stdout)
				ready := make(chan string, 1)
				go func() {
					for lines.Scan() {
						if l := lines.Text(); l == "going" || strings.HasPrefix(l, "helper failed") {
							ready <- l
						}
					}
					io.Copy(io.Discard, stdout)
				}()
				select {
				case l := <-ready:
					if l != "going" {
						t.Fatalf("helper: %s\n%s", l, stderr.String())
					}
				case <-time.After(60 * time.Second):
					t.Fatalf("the helper never committed 1000 tiles\n%s", stderr.String())
				}
				delay := time.Duration(rand.Int64N(int64(800 * time.Millisecond)))
				time.Sleep(delay)
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				err = cmd.Wait()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("helper did not die of SIGKILL: %v\n%s", err, stderr.String())
				}
				if ext != "dir" {
					mustNotExist(t, dest)
				}

				s := mustOpen(t, dest, "png")
				k := 0
				for k < len(order) {
					ok, err := s.Has(order[k])
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						break
					}
					k++
				}
				if k < 1000 {
					t.Fatalf("only %d tiles survived; 1000 were committed before the kill", k)
				}
				// Commits are in order: nothing after the first missing tile.
				mustHave(t, s, false, order[k:min(len(order), k+3000)]...)
				t.Logf("killed %s after %s: %d tiles committed", ext, delay.Round(time.Millisecond), k)
				if err := s.Finish(Metadata{MinZoom: 0, MaxZoom: 9}); err != nil {
					t.Fatal(err)
				}
				want := map[tiles.Tile][]byte{}
				for _, tl := range order[:k] {
					want[tl] = palette[killIndex(tl)]
				}
				sameTiles(t, "resumed archive", readAll(t, dest), want)
				if ext == "dir" {
					// Whole tiles only, and no journal left once finished.
					if left, _ := filepath.Glob(filepath.Join(dest, journalPrefix+"*")); len(left) != 0 {
						t.Errorf("journal left: %v", left)
					}
					return
				}
				if ext == "pmtiles" {
					pmtilesVerify(t, dest)
					return
				}
				db, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				var check string
				if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
					t.Fatalf("integrity_check: %q %v", check, err)
				}
				out := run(t, "gdalinfo", dest)
				if !strings.Contains(out, "Driver: MBTiles/MBTiles") {
					t.Fatalf("gdalinfo:\n%s", out)
				}
			})
		}
	}
}

// TestFullFileSystem runs a helper in a user and mount namespace with a 2 MiB
// tmpfs as the destination (a real full disk: ENOSPC and SQLITE_FULL), where
// helperTinyFS checks that Put and Finish fail cleanly, DEST never appears,
// and the export completes once space is freed.
func TestFullFileSystem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux namespaces; TestMBTilesDiskFull and TestPMTilesDiskFull simulate a full disk")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1); TestMBTilesDiskFull and TestPMTilesDiskFull simulate a full disk")
	}
	ns := []string{"--user", "--map-root-user", "--mount"}
	if out, err := exec.Command(unshare, append(ns, "sh", "-c", `d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d"`)...).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs in a user namespace (%v: %s); TestMBTilesDiskFull and TestPMTilesDiskFull simulate a full disk", err, bytes.TrimSpace(out))
	}
	bin := pmtilesCLI(t)
	dir := t.TempDir()
	args := append(ns, "sh", "-c", `mount -t tmpfs -o size=2m tmpfs "$1" && shift && exec "$@"`, "sh", dir, os.Args[0])
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), helperEnv+"=tinyfs", "EXPORT_DIR="+dir, "EXPORT_PMTILES="+bin)
	out, err := cmd.CombinedOutput()
	t.Logf("helper in a 2 MiB tmpfs:\n%s", out)
	if err != nil || !strings.Contains(string(out), "tinyfs: all ok") {
		t.Fatalf("helper: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the tmpfs leaked: %d entries under %s", len(left), dir)
	}
}

func helperTinyFS(dir, pmtilesBin string) error {
	say := func(f string, a ...any) { fmt.Printf("tinyfs: "+f+"\n", a...) }
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Blocks*uint64(st.Bsize) > 4<<20 {
		return fmt.Errorf("%s is not the small tmpfs (%d bytes, %v)", dir, st.Blocks*uint64(st.Bsize), err)
	}

	// 1. MBTiles: the staging database fills the disk. Small batches, so that
	// some commit before it is full (a batch that does not fit is rolled back).
	stageBatch = 8
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o644); err != nil {
		return err
	}
	dest := filepath.Join(dir, "full.mbtiles")
	s, err := Open(dest, "png")
	if err != nil {
		return err
	}
	var putErr error
	var put []tiles.Tile
	for _, tl := range pyramid(0, 8) {
		if putErr = s.Put(tl, randomBytes(tl, 16<<10)); putErr != nil {
			break
		}
		put = append(put, tl)
	}
	if putErr == nil || !strings.Contains(putErr.Error(), "full") {
		return fmt.Errorf("Put on a full disk: %v, want 'database or disk is full'", putErr)
	}
	say("mbtiles: Put failed cleanly after %d tiles: %v", len(put), putErr)
	if err := s.Finish(Metadata{}); err == nil {
		return errors.New("mbtiles: Finish succeeded on a full disk")
	}
	if _, err := os.Stat(dest); err == nil {
		return errors.New("mbtiles: DEST exists after a failed export")
	}
	if err := os.Remove(filler); err != nil {
		return err
	}
	s, err = Open(dest, "png")
	if err != nil {
		return fmt.Errorf("mbtiles: reopening after freeing space: %w", err)
	}
	committed := map[tiles.Tile]bool{}
	for _, tl := range put {
		ok, err := s.Has(tl)
		if err != nil {
			return err
		}
		if ok {
			committed[tl] = true
		}
	}
	if len(committed) == 0 {
		return errors.New("mbtiles: nothing survived")
	}
	if err := s.Finish(Metadata{}); err != nil {
		return fmt.Errorf("mbtiles: Finish after freeing space: %w", err)
	}
	n := 0
	err = ReadAll(dest, func(tl tiles.Tile, data []byte) error {
		if !committed[tl] || !bytes.Equal(data, randomBytes(tl, 16<<10)) {
			return fmt.Errorf("tile %s unexpected or corrupt", tl)
		}
		n++
		return nil
	})
	if err != nil || n != len(committed) {
		return fmt.Errorf("mbtiles: %d of %d tiles read back: %v", n, len(committed), err)
	}
	say("mbtiles: resumed after freeing space, %d tiles in the archive", n)
	if err := os.Remove(dest); err != nil {
		return err
	}

	// 2. PMTiles: staged tiles fit, then the disk fills up and the archive
	// Finish writes does not.
	dest = filepath.Join(dir, "full.pmtiles")
	if s, err = Open(dest, "png"); err != nil {
		return err
	}
	want := map[tiles.Tile][]byte{}
	for _, tl := range pyramid(0, 3)[:40] {
		want[tl] = randomBytes(tl, 16<<10)
		if err := s.Put(tl, want[tl]); err != nil {
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	f, err := os.Create(filler)
	if err != nil {
		return err
	}
	chunk := make([]byte, 16<<10)
	var size int64
	for {
		n, err := f.Write(chunk)
		size += int64(n)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				return err
			}
			break
		}
	}
	if err := f.Truncate(max(0, size-192<<10)); err != nil { // room to open the database, not for the archive
		return err
	}
	f.Close()
	if s, err = Open(dest, "png"); err != nil {
		return fmt.Errorf("pmtiles: reopening on a nearly full disk: %w", err)
	}
	err = s.Finish(Metadata{})
	if !errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("pmtiles: Finish on a full disk: %v, want ENOSPC", err)
	}
	say("pmtiles: Finish failed cleanly: %v", err)
	if _, err := os.Stat(dest); err == nil {
		return errors.New("pmtiles: DEST exists after a failed Finish")
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".full.pmtiles"+tmpMark+"*")); len(tmp) > 0 {
		return fmt.Errorf("pmtiles: temporary archive left: %v", tmp)
	}
	if _, err := os.Stat(dest + ".part"); err != nil {
		return fmt.Errorf("pmtiles: the staging database is gone: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		return err
	}
	if s, err = Open(dest, "png"); err != nil {
		return err
	}
	if err := s.Finish(Metadata{}); err != nil {
		return fmt.Errorf("pmtiles: Finish after freeing space: %w", err)
	}
	n = 0
	err = ReadAll(dest, func(tl tiles.Tile, data []byte) error {
		if !bytes.Equal(data, want[tl]) {
			return fmt.Errorf("tile %s unexpected or corrupt", tl)
		}
		n++
		return nil
	})
	if err != nil || n != len(want) {
		return fmt.Errorf("pmtiles: %d of %d tiles read back: %v", n, len(want), err)
	}
	out, err := exec.Command(pmtilesBin, "verify", dest).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("Invalid")) {
		return fmt.Errorf("pmtiles verify: %v\n%s", err, out)
	}
	say("pmtiles: finished after freeing space, %d tiles, verified", n)
	say("all ok")
	return nil
}
