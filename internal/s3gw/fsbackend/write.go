package fsbackend

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// inlineMax is the largest object kept in the index itself instead of a data file: a
// small write then costs one share of a grouped index commit instead of a file and
// directory fsync of its own.
const inlineMax = 32 << 10

// writeResult describes a received body: a data file (id), or inline bytes (id "").
type writeResult struct {
	id     string
	inline []byte
	size   int64
	md5    []byte
}

// segments returns the data files of a single-file result (none when inline).
func (w writeResult) segments() []segment {
	if w.id == "" {
		return nil
	}
	return []segment{{id: w.id, size: w.size}}
}

// receive reads body for a new object: kept in memory (to go into the index) when it
// ends within inlineMax bytes, else streamed into a data file by writeFile.
func (b *Backend) receive(ctx context.Context, body io.Reader, size int64, wantMD5 []byte) (writeResult, error) {
	if err := checkMD5Len(wantMD5); err != nil {
		return writeResult{}, err
	}
	if size > inlineMax {
		return b.writeFile(ctx, body, size, wantMD5)
	}
	if size >= 0 {
		body = io.LimitReader(body, size+1)
	}
	bp := b.bufs.Get().(*[]byte)
	n, err := readFull(body, (*bp)[:inlineMax+1])
	data := bytes.Clone((*bp)[:n])
	b.bufs.Put(bp)
	switch {
	case err == io.EOF:
	case err != nil:
		return writeResult{}, fmt.Errorf("fsbackend: read body: %w", err)
	default: // more than inlineMax bytes: a data file, starting with what was read
		return b.writeFile(ctx, io.MultiReader(bytes.NewReader(data), body), size, wantMD5)
	}
	if err := ctx.Err(); err != nil {
		return writeResult{}, err
	}
	sum := md5.Sum(data)
	if err := checkBody(int64(n), size, sum[:], wantMD5); err != nil {
		return writeResult{}, fmt.Errorf("fsbackend: %w", err)
	}
	return writeResult{inline: data, size: int64(n), md5: sum[:]}, nil
}

func checkMD5Len(wantMD5 []byte) error {
	if wantMD5 != nil && len(wantMD5) != 16 {
		return fmt.Errorf("fsbackend: content-md5 of %d bytes: %w", len(wantMD5), s3gw.ErrBadDigest)
	}
	return nil
}

// checkBody checks a body's length (when size >= 0) and MD5 (when wantMD5 is set).
func checkBody(total, size int64, sum, wantMD5 []byte) error {
	if size >= 0 && total != size {
		return fmt.Errorf("%d bytes, want %d: %w", min(total, size+1), size, ErrBodyLength)
	}
	if wantMD5 != nil && !bytes.Equal(sum, wantMD5) {
		return s3gw.ErrBadDigest
	}
	return nil
}

// ErrBodyLength is returned (wrapped) by PutObject and UploadPart when the body is not
// PutOptions.Size / PartOptions.Size bytes long; s3gw has no sentinel for it (S3 calls
// it IncompleteBody). Nothing is committed.
var ErrBodyLength = fmt.Errorf("body length does not match content length: %w", s3gw.ErrIncompleteBody)

// writeFile streams body into a new durable data file: written, length- and
// MD5-checked, fsynced with its directory. On error nothing is left behind.
func (b *Backend) writeFile(ctx context.Context, body io.Reader, size int64, wantMD5 []byte) (writeResult, error) {
	if err := checkMD5Len(wantMD5); err != nil {
		return writeResult{}, err
	}
	id := newID()
	path := b.filePath(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // its directory exists: New made it
	if err != nil {
		return writeResult{}, fmt.Errorf("fsbackend: create data file: %w", err)
	}
	res, err := b.fill(ctx, f, body, size, wantMD5)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(path)
		return writeResult{}, fmt.Errorf("fsbackend: write object data: %w", err)
	}
	res.id = id
	return res, nil
}

// fill copies body into f and checks its length (when size >= 0) and MD5 (when wantMD5
// is set). Three stages overlap, each in order: a reader goroutine reads the body (with
// the gateway's own verification: chunk signatures, payload hash) into a buffer, this
// goroutine hashes it, and a writer goroutine writes it and starts its writeback early;
// so a large body costs about its slowest stage (MD5, on one core) plus a short final
// fsync. At most fillDepth pooled buffers are in use. Only io.EOF ends a body; any other
// Read error (io.ErrUnexpectedEOF included) fails the write.
func (b *Backend) fill(ctx context.Context, f *os.File, body io.Reader, size int64, wantMD5 []byte) (writeResult, error) {
	if size >= 0 {
		body = io.LimitReader(body, size+1)
	}
	free := make(chan *[]byte, fillDepth)
	read := make(chan chunk, fillDepth)
	hashed := make(chan chunk, fillDepth)
	for range fillDepth {
		free <- b.bufs.Get().(*[]byte)
	}
	var stop atomic.Bool // set on any failure: the reader stops after its current Read
	go readChunks(body, free, read, &stop)
	werr := make(chan error, 1)
	go func() { werr <- drain(f, hashed, free, &stop) }()

	h := md5.New()
	var (
		total int64
		err   error
		done  bool
	)
	for c := range read { // until the reader has stopped: it must not outlive fill
		if err == nil && !done {
			if err = ctx.Err(); err == nil {
				h.Write((*c.bp)[:c.n])
				total += int64(c.n)
				switch {
				case c.err == io.EOF:
					done = true
				case c.err != nil:
					err = fmt.Errorf("read body: %w", c.err)
				}
			}
			if err != nil {
				stop.Store(true)
				c.n = 0
			}
			hashed <- c
			continue
		}
		free <- c.bp
	}
	close(hashed)
	if werr := <-werr; err == nil {
		err = werr
	}
	for range fillDepth {
		b.bufs.Put(<-free)
	}
	if err != nil {
		return writeResult{}, err
	}
	sum := h.Sum(nil)
	if err := checkBody(total, size, sum, wantMD5); err != nil {
		return writeResult{}, err
	}
	return writeResult{size: total, md5: sum}, nil
}

const (
	fillDepth      = 4       // buffers per write in flight
	writebackEvery = 4 << 20 // start writeback of each 4 MiB written
)

// readChunks reads body into free buffers and passes them on in order, until EOF, an
// error or stop; then it closes read.
func readChunks(body io.Reader, free <-chan *[]byte, read chan<- chunk, stop *atomic.Bool) {
	defer close(read)
	for !stop.Load() {
		bp := <-free
		n, err := readFull(body, *bp)
		read <- chunk{bp: bp, n: n, err: err}
		if err != nil {
			return
		}
	}
}

type chunk struct {
	bp  *[]byte
	n   int
	err error // the Read error that ended this chunk (io.EOF at the end)
}

// drain writes chunks to f in order and hands their buffers back. After a write error
// it keeps taking chunks (discarding them) so the reader never blocks.
func drain(f *os.File, full <-chan chunk, free chan<- *[]byte, stop *atomic.Bool) error {
	var (
		err          error
		off, started int64
	)
	for c := range full {
		if err == nil && c.n > 0 {
			if _, err = f.Write((*c.bp)[:c.n]); err != nil {
				stop.Store(true)
			}
			off += int64(c.n)
			if off-started >= writebackEvery {
				startWriteback(f, started, off-started)
				started = off
			}
		}
		free <- c.bp
	}
	return err
}

// readFull reads until buf is full or r fails; unlike io.ReadFull it passes io.EOF and
// every other error through unchanged.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
