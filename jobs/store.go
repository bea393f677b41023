package jobs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"time"
)

// A job is kept in one file, <jobs_dir>/<id>.job: an append-only log of
// records. Each record is a frame, a JSON meta and, for items, the raw
// result:
//
//	magic "uj" | kind | version | meta length (u32) | body length (u64) | CRC-32 of the frame's first 16 bytes and the meta (u32)
//	meta (JSON)
//	body (item records: the result's bytes, their own CRC-32 in the meta)
//
// The records are, in order: a header (id, owner, client, udf, created: all
// start-up reads), the spec, then states and items as they happen. A record
// cut short by a crash, or damaged, ends the log: what follows it is ignored
// (and cut off before the next append).
const (
	frameLen = 20
	version  = 1
	maxMeta  = 256 << 20 // a spec of many items is the largest meta

	kindHead  = 'H'
	kindSpec  = 'P'
	kindState = 'S'
	kindItem  = 'I'
)

// headRecord is a job's first record, and all that start-up reads of it.
type headRecord struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Client  string    `json:"client"`
	UDF     string    `json:"udf"`
	Created time.Time `json:"created"`
	Items   int       `json:"items"`
}

// stateRecord is a change of the job's state; Retry lists the items a retry
// set pending again.
type stateRecord struct {
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
	Retry    []int     `json:"retry,omitempty"`
}

// itemRecord is an item that ended; its result follows it.
type itemRecord struct {
	Index       int     `json:"index"`
	Status      string  `json:"status"`
	Attempts    int     `json:"attempts"`
	Seconds     float64 `json:"seconds"`
	Error       string  `json:"error,omitempty"`
	Logs        string  `json:"logs,omitempty"`
	ContentType string  `json:"content_type,omitempty"`
	Cache       string  `json:"cache,omitempty"`
	CRC         uint32  `json:"crc"`
}

// readFile is what reading a job's file needs; tests count the bytes read.
type readFile interface {
	io.ReaderAt
	io.Closer
	Stat() (fs.FileInfo, error)
}

func openRead(name string) (readFile, error) { return os.Open(name) }

// encodeRecord frames a record.
func encodeRecord(kind byte, meta any, body []byte) ([]byte, error) {
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, frameLen, frameLen+len(mb)+len(body))
	buf[0], buf[1], buf[2], buf[3] = 'u', 'j', kind, version
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(mb)))
	binary.LittleEndian.PutUint64(buf[8:], uint64(len(body)))
	crc := crc32.NewIEEE()
	crc.Write(buf[:16])
	crc.Write(mb)
	binary.LittleEndian.PutUint32(buf[16:], crc.Sum32())
	buf = append(buf, mb...)
	return append(buf, body...), nil
}

// recordReader reads a job's log record by record, never its bodies.
type recordReader struct {
	f    io.ReaderAt
	size int64 // the file's
	off  int64 // the next record's; where the good log ends once next is false
	buf  []byte
	err  error // why the log ended before size
}

// next reads the record at r.off: its kind, its meta (valid until the next
// call) and where its body is. It returns false at the end of the log, with
// r.err set when the log ends on a record cut short or damaged. ahead bytes
// past the frame are read with it, to save a read when metas are small.
func (r *recordReader) next(ahead int) (kind byte, meta []byte, bodyOff, bodyLen int64, ok bool) {
	left := r.size - r.off
	if left == 0 {
		return 0, nil, 0, 0, false
	}
	if left < frameLen {
		r.err = fmt.Errorf("a record cut short at byte %d", r.off)
		return 0, nil, 0, 0, false
	}
	n := int(min(left, int64(frameLen+ahead)))
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := r.f.ReadAt(b, r.off); err != nil && !errors.Is(err, io.EOF) {
		r.err = err
		return 0, nil, 0, 0, false
	}
	if b[0] != 'u' || b[1] != 'j' || b[3] != version {
		r.err = fmt.Errorf("no record at byte %d", r.off)
		return 0, nil, 0, 0, false
	}
	metaLen := int64(binary.LittleEndian.Uint32(b[4:]))
	bodyLen = int64(binary.LittleEndian.Uint64(b[8:]))
	if metaLen > maxMeta || bodyLen < 0 || bodyLen > left || frameLen+metaLen+bodyLen > left {
		r.err = fmt.Errorf("a record cut short at byte %d", r.off)
		return 0, nil, 0, 0, false
	}
	if frameLen+int(metaLen) <= n {
		meta = b[frameLen : frameLen+metaLen]
	} else {
		meta = make([]byte, metaLen)
		if _, err := r.f.ReadAt(meta, r.off+frameLen); err != nil && !errors.Is(err, io.EOF) {
			r.err = err
			return 0, nil, 0, 0, false
		}
	}
	crc := crc32.NewIEEE()
	crc.Write(b[:16])
	crc.Write(meta)
	if crc.Sum32() != binary.LittleEndian.Uint32(b[16:]) {
		r.err = fmt.Errorf("a damaged record at byte %d", r.off)
		return 0, nil, 0, 0, false
	}
	kind, bodyOff = b[2], r.off+frameLen+metaLen
	r.off = bodyOff + bodyLen
	return kind, meta, bodyOff, bodyLen, true
}

// readHead reads a job file's header record only.
func readHead(open func(string) (readFile, error), path string) (headRecord, fs.FileInfo, error) {
	var h headRecord
	f, err := open(path)
	if err != nil {
		return h, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return h, nil, err
	}
	r := recordReader{f: f, size: info.Size()}
	kind, meta, _, _, ok := r.next(0)
	if !ok || kind != kindHead {
		if r.err == nil {
			r.err = errors.New("no header record")
		}
		return h, nil, r.err
	}
	if err := json.Unmarshal(meta, &h); err != nil {
		return h, nil, fmt.Errorf("its header: %v", err)
	}
	return h, info, nil
}
