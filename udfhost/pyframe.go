package udfhost

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// The worker protocol: each message is a frame of
//
//	u32 length | u32 header length | header JSON | blob 0 | blob 1 | ...
//
// (big-endian), where the header's "blobs" lists the blob lengths. Arrays travel
// as blobs of raw little-endian values, described by dtype and shape in the header.

// maxFrame bounds what a worker may send back: a runaway UDF cannot exhaust memory.
const maxFrame = 1 << 30

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
	raw         json.RawMessage
	blobs       [][]byte
}

func readFrame(r io.Reader) (*reply, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	total := binary.BigEndian.Uint32(n[:])
	if total < 4 || total > maxFrame {
		return nil, fmt.Errorf("worker sent a frame of %d bytes", total)
	}
	body, err := readBody(r, int(total))
	if err != nil {
		return nil, err
	}
	hl := binary.BigEndian.Uint32(body[:4])
	if int(hl) > len(body)-4 {
		return nil, fmt.Errorf("worker sent a header of %d bytes in a frame of %d", hl, total)
	}
	rep := &reply{raw: body[4 : 4+hl]}
	if err := json.Unmarshal(rep.raw, rep); err != nil {
		return nil, fmt.Errorf("worker sent a bad header: %v", err)
	}
	off := int(4 + hl)
	for _, l := range rep.Blobs {
		if l < 0 || l > len(body)-off { // off+l could overflow
			return nil, fmt.Errorf("worker sent blobs longer than its frame")
		}
		rep.blobs = append(rep.blobs, body[off:off+l])
		off += l
	}
	return rep, nil
}

// readBody reads the n bytes of a frame's body. The buffer starts at
// frameChunk and doubles as bytes arrive, so what is allocated stays within
// twice what was received.
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
		body = append(body, make([]byte, min(n-got, len(body)))...)
	}
}
