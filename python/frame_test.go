package python

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"testing"
)

// TestFrameRefusesForeignBytes: a reply whose blob another writer of the
// pipe wrote into (the bytes of a forged frame between the header and the
// body, as a UDF's thread can) no longer matches its checksum and is
// refused; the same frame untouched is read.
func TestFrameRefusesForeignBytes(t *testing.T) {
	body := []byte(`{"value": "v504", "pid": 12}`)
	header, _ := json.Marshal(map[string]any{"ok": true, "id": "c7", "kind": "json", "blobs": []int{len(body)},
		"crc": []uint32{crc32.ChecksumIEEE(body)}})
	honest := frame(header, body)
	rep, err := readFrame(bytes.NewReader(honest), 1<<20)
	if err != nil || len(rep.blobs) != 1 || !bytes.Equal(rep.blobs[0], body) {
		t.Fatalf("the honest frame: %v, %v", rep, err)
	}
	// The foreign bytes take the place of the body's first bytes: the frame
	// read is as long as the honest one, its blob the forgery's start.
	forged := []byte("\x00\x00\x00\x20\x00\x00\x00\x10{\"ok\": true}")
	hl := len(honest) - len(body)
	mixed := append(append(append([]byte{}, honest[:hl]...), forged...), body...)
	if _, err := readFrame(bytes.NewReader(mixed), 1<<20); err == nil {
		t.Fatal("a frame with foreign bytes in its blob was read")
	} else if _, ok := err.(*frameError); !ok {
		t.Fatalf("a frame with foreign bytes: %T %v, want a frame error", err, err)
	}
	// Checksums that do not match the blobs' count, and bytes past the blobs.
	bad, _ := json.Marshal(map[string]any{"ok": true, "id": "c7", "blobs": []int{len(body)}, "crc": []uint32{}})
	if _, err := readFrame(bytes.NewReader(frame(bad, body)), 1<<20); err == nil {
		t.Error("a frame with no checksum for its blob was read")
	}
	if _, err := readFrame(bytes.NewReader(frame(header, body, []byte("extra"))), 1<<20); err == nil {
		t.Error("a frame with bytes past its blobs was read")
	}
}
