package python

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
)

// The worker protocol: each message is a frame of
//
//	u32 length | u32 header length | header JSON | blob 0 | blob 1 | ...
//
// (big-endian), where the header's "blobs" lists the blob lengths. Arrays travel
// as blobs of raw little-endian values, described by dtype and shape in the header.

// frameSlack is what a reply frame may hold beyond python.max_output_mb: its
// header (logs are cut to 64 KiB by the worker) and a mask blob.
const frameSlack = 16 << 20

// frameError is a reply that is not a well-formed frame.
type frameError struct{ msg string }

func (e *frameError) Error() string { return e.msg }

func frameErrorf(format string, args ...any) error {
	return &frameError{msg: fmt.Sprintf(format, args...)}
}

// frameChunk is the most readFrame allocates ahead of the bytes received: a
// length prefix alone never makes it reserve maxFrame.
const frameChunk = 1 << 20

func writeFrame(w io.Writer, header map[string]any, blobs [][]byte) error {
	lens := make([]int, len(blobs))
	total := 0
	for i, b := range blobs {
		lens[i] = len(b)
		total += len(b)
	}
	header["blobs"] = lens
	h, err := json.Marshal(header)
	if err != nil {
		return err
	}
	buf := make([]byte, 8, 8+len(h)+total)
	binary.BigEndian.PutUint32(buf[0:], uint32(4+len(h)+total))
	binary.BigEndian.PutUint32(buf[4:], uint32(len(h)))
	buf = append(buf, h...)
	for _, b := range blobs {
		buf = append(buf, b...)
	}
	_, err = w.Write(buf)
	return err
}

// reply is a decoded worker frame.
type reply struct {
	ID  string `json:"id"`  // the call's id, echoed
	PID int    `json:"pid"` // the interpreter that answered
	// Op is "host" for a request of the UDF to the server during its call
	// (Host names it, Args are its arguments, Hid numbers it); "" for the
	// call's reply.
	Op          string            `json:"op"`
	Hid         int64             `json:"hid"`
	Host        string            `json:"host"`
	Args        json.RawMessage   `json:"args"`
	Timeout     float64           `json:"timeout"` // a request's bound in seconds (fused.options), 0 = none
	OK          bool              `json:"ok"`
	Status      int               `json:"status"`
	Error       string            `json:"error"`
	Logs        string            `json:"logs"`
	Kind        string            `json:"kind"`
	DType       string            `json:"dtype"`
	Shape       []int             `json:"shape"`
	Bounds      []float64         `json:"bounds"`
	Mask        bool              `json:"mask"`
	ContentType string            `json:"content_type"`
	Columns     []string          `json:"columns"`
	Types       map[string]string `json:"types"`
	Blobs       []int             `json:"blobs"`
	// CRC is each blob's CRC-32 (IEEE): a frame whose blobs do not match
	// had other bytes written into it (a UDF's thread or child writing to
	// the pipe) and is refused.
	CRC      []uint32 `json:"crc"`
	raw      json.RawMessage
	blobs    [][]byte
	frameLen int // bytes of the frame the blobs share
}

// ownBlob returns blob i in a buffer that holds little else: a result kept in
// the cache must not pin the frame it came in (its header carries the logs).
func (r *reply) ownBlob(i int) []byte {
	if i >= len(r.blobs) {
		return nil
	}
	b := r.blobs[i]
	if r.frameLen-len(b) > 4<<10 {
		return bytes.Clone(b)
	}
	return b
}

// readFrame reads one reply of at most max bytes.
func readFrame(r io.Reader, max int) (*reply, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	total := binary.BigEndian.Uint32(n[:])
	if total < 4 || int64(total) > int64(max) {
		return nil, frameErrorf("worker sent a frame of %d bytes (at most %d)", total, max)
	}
	body, err := readBody(r, int(total))
	if err != nil {
		return nil, err
	}
	hl := binary.BigEndian.Uint32(body[:4])
	if int(hl) > len(body)-4 {
		return nil, frameErrorf("worker sent a header of %d bytes in a frame of %d", hl, total)
	}
	rep := &reply{raw: body[4 : 4+hl], frameLen: len(body)}
	if err := json.Unmarshal(rep.raw, rep); err != nil {
		return nil, frameErrorf("worker sent a bad header: %v", err)
	}
	off := int(4 + hl)
	if rep.CRC != nil && len(rep.CRC) != len(rep.Blobs) {
		return nil, frameErrorf("worker sent %d checksums for %d blobs", len(rep.CRC), len(rep.Blobs))
	}
	for i, l := range rep.Blobs {
		if l < 0 || l > len(body)-off { // off+l could overflow
			return nil, frameErrorf("worker sent blobs longer than its frame")
		}
		b := body[off : off+l]
		if rep.CRC != nil && crc32.ChecksumIEEE(b) != rep.CRC[i] {
			return nil, frameErrorf("worker sent a frame whose blob %d does not match its checksum (other bytes were written into it)", i)
		}
		rep.blobs = append(rep.blobs, b)
		off += l
	}
	if off != len(body) {
		return nil, frameErrorf("worker sent a frame of %d bytes whose header and blobs are %d", len(body), off)
	}
	return rep, nil
}

// readBody reads the n bytes of a frame's body. The buffer starts at
// frameChunk and doubles as bytes arrive, so what is allocated stays within
// twice what was received, until an eighth of n has arrived: then the rest is
// allocated at once, so that a large reply is not copied again and again.
func readBody(r io.Reader, n int) ([]byte, error) {
	body := make([]byte, min(n, frameChunk))
	got := 0
	for {
		m, err := io.ReadFull(r, body[got:])
		got += m
		if err != nil {
			if err == io.EOF && got > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if got == n {
			return body, nil
		}
		size := min(n, 2*len(body))
		if got >= n/8 {
			size = n
		}
		grown := make([]byte, size)
		copy(grown, body)
		body = grown
	}
}
