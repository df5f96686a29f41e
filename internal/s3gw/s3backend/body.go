package s3backend

import (
	"fmt"
	"io"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// ErrBodyLength is returned (wrapped) by PutObject and UploadPart when the body is not
// PutOptions.Size / PartOptions.Size bytes long. Nothing is committed.
var ErrBodyLength = fmt.Errorf("body length does not match content length: %w", s3gw.ErrIncompleteBody)

// holdBackSize is the read-ahead buffer of a guard.
const holdBackSize = 32 << 10

// guard reads a request body for the upstream and keeps its last byte back until the
// body has ended cleanly (io.EOF, and the declared length when known). When the body
// fails instead — a verification error from the gateway, a client that hangs up, a
// length mismatch — Read returns the failure without releasing that byte, the HTTP
// transport abandons the request, and the upstream, having received fewer bytes than
// announced (or no final chunk), commits nothing.
type guard struct {
	src  io.Reader
	size int64 // -1 when unknown
	n    int64 // bytes read from src
	buf  []byte
	data []byte // read from src, not yet returned
	eof  bool
	err  error
}

func newGuard(src io.Reader, size int64) *guard {
	return &guard{src: src, size: size, buf: make([]byte, holdBackSize)}
}

func (g *guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	for {
		avail := len(g.data)
		if !g.eof && avail > 0 {
			avail-- // the held-back byte
		}
		if avail > 0 {
			k := copy(p, g.data[:avail])
			g.data = g.data[k:]
			return k, nil
		}
		if g.eof {
			return 0, io.EOF
		}
		m := copy(g.buf, g.data)
		n, err := g.src.Read(g.buf[m:])
		g.data = g.buf[:m+n]
		g.n += int64(n)
		if g.size >= 0 && g.n > g.size {
			return 0, g.fail(fmt.Errorf("more than %d bytes: %w", g.size, ErrBodyLength))
		}
		switch {
		case err == io.EOF && g.size >= 0 && g.n != g.size:
			return 0, g.fail(fmt.Errorf("%d bytes, want %d: %w", g.n, g.size, ErrBodyLength))
		case err == io.EOF:
			g.eof = true
		case err != nil:
			return 0, g.fail(err)
		}
	}
}

func (g *guard) fail(err error) error {
	g.err, g.data = err, nil
	return err
}

// failure is the body's own failure, if it had one: it explains a failed upstream
// request better than the transport's error does.
func (g *guard) failure() error { return g.err }
