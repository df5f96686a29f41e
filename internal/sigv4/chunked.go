package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const (
	// maxChunkLine bounds a chunk header or trailer line (MinIO uses the same 4 KiB).
	maxChunkLine = 4096
	// maxTrailerLines bounds the trailer section: the declared checksum and the signature.
	maxTrailerLines = 4
	emptySHA256     = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	chunkBufSize    = maxChunkLine + 16 // small, so that chunk data bypasses the buffer
	// maxUnsignedChunk bounds an unsigned chunk: S3's largest single PUT, 5 GiB.
	maxUnsignedChunk = 5 << 30
)

// chunkReader decodes an aws-chunked body and verifies it as it goes: chunk signatures
// chained from the seed signature (signed modes), the trailer signature (signed trailer),
// the declared trailing checksum (trailer modes) and x-amz-decoded-content-length.
type chunkReader struct {
	src       *bufio.Reader
	signed    bool
	trailer   string // declared trailer name, "" for StreamingPayload
	key       []byte
	amzDate   string
	scope     string
	prevSig   string
	chunkSig  string    // the signature the current chunk claims
	dataHash  hash.Hash // SHA-256 of the current chunk (signed modes)
	mac       hash.Hash // HMAC-SHA256 with the signing key, reset for each signature
	checksum  hash.Hash // the declared trailing checksum over all decoded bytes
	remaining int64     // bytes of the current chunk not yet read
	decoded   int64
	want      int64
	maxChunk  int64
	done      bool
	err       error
}

func newChunkReader(a *Auth, r *http.Request, mode string, key []byte, maxChunk int64) (*chunkReader, error) {
	want, err := decodedLength(r)
	if err != nil {
		return nil, err
	}
	if maxChunk <= 0 {
		maxChunk = defaultMaxChunkSize
	}
	if mode == StreamingUnsignedPayloadTrailer {
		// aws-sdk-go-v2 sends a body of known length as one chunk, however large.
		maxChunk = maxUnsignedChunk
	}
	body := io.Reader(r.Body)
	if r.Body == nil {
		body = http.NoBody
	}
	c := &chunkReader{
		src:      bufio.NewReaderSize(body, chunkBufSize),
		signed:   mode != StreamingUnsignedPayloadTrailer,
		key:      key,
		amzDate:  a.amzDate,
		scope:    a.Scope.String(),
		prevSig:  a.Signature,
		want:     want,
		maxChunk: maxChunk,
	}
	if c.signed {
		c.dataHash = sha256.New()
		c.mac = hmac.New(sha256.New, key)
	}
	if mode == StreamingPayload {
		if len(r.Header.Values("X-Amz-Trailer")) > 0 {
			return nil, newError(CodeInvalidRequest, "x-amz-trailer requires a trailer payload (STREAMING-...-TRAILER)")
		}
		return c, nil
	}
	if c.trailer, err = declaredTrailer(r); err != nil {
		return nil, err
	}
	newHash, _ := checksumAlgorithm(c.trailer)
	c.checksum = newHash()
	return c, nil
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.remaining == 0 {
		if c.done {
			c.err = io.EOF
			return 0, io.EOF
		}
		if err := c.nextChunk(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.src.Read(p)
	if n > 0 {
		if c.signed {
			c.dataHash.Write(p[:n])
		}
		if c.checksum != nil {
			c.checksum.Write(p[:n])
		}
		c.remaining -= int64(n)
		c.decoded += int64(n)
	}
	if err != nil {
		c.err = incomplete(err)
		return n, c.err
	}
	if c.remaining == 0 {
		if err := c.endChunk(); err != nil {
			c.err = err
			return 0, err
		}
	}
	return n, nil
}

func incomplete(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &Error{Code: CodeIncompleteBody, Message: msgIncompleteBody, Err: err}
}

// readLine returns the next CRLF-terminated line without its CRLF, bounded in length.
func (c *chunkReader) readLine() (string, error) {
	line, err := c.src.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > maxChunkLine:
		return "", newError(CodeInvalidRequest, "An aws-chunked header line is too long")
	case err != nil:
		return "", incomplete(err)
	case len(line) < 2 || line[len(line)-2] != '\r':
		return "", newError(CodeInvalidRequest, "An aws-chunked line does not end in CRLF")
	}
	return string(line[:len(line)-2]), nil
}

// nextChunk reads a chunk header; the final (empty) chunk is verified and finished here.
func (c *chunkReader) nextChunk() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	sizeHex := line
	if c.signed {
		var sig string
		var ok bool
		sizeHex, sig, ok = strings.Cut(line, ";chunk-signature=")
		if !ok || !isSignature(sig) {
			return newError(CodeInvalidRequest, "An aws-chunked chunk header is malformed")
		}
		c.chunkSig = sig
	}
	if len(sizeHex) == 0 || len(sizeHex) > 16 {
		return newError(CodeInvalidRequest, "An aws-chunked chunk size is malformed")
	}
	size, err := strconv.ParseUint(sizeHex, 16, 64)
	switch {
	case err != nil:
		return newError(CodeInvalidRequest, "An aws-chunked chunk size is malformed")
	case size > uint64(c.maxChunk):
		return newError(CodeInvalidRequest, "An aws-chunked chunk is larger than %d bytes", c.maxChunk)
	case int64(size) > c.want-c.decoded:
		return newError(CodeInvalidRequest, "The aws-chunked body is longer than x-amz-decoded-content-length")
	}
	c.remaining = int64(size)
	if size > 0 {
		return nil
	}
	if c.signed {
		if err := c.checkChunkSignature(); err != nil {
			return err
		}
	}
	return c.finish()
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (c *chunkReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.src, crlf[:]); err != nil {
		return incomplete(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return newError(CodeInvalidRequest, "An aws-chunked chunk is not followed by CRLF")
	}
	if c.signed {
		return c.checkChunkSignature()
	}
	return nil
}

// checkChunkSignature verifies the current chunk's signature and advances the chain.
func (c *chunkReader) checkChunkSignature() error {
	var sum [sha256.Size]byte
	var hx [64]byte
	hex.Encode(hx[:], c.dataHash.Sum(sum[:0]))
	c.dataHash.Reset()
	parts := [...]string{"AWS4-HMAC-SHA256-PAYLOAD\n", c.amzDate, "\n", c.scope, "\n", c.prevSig, "\n", emptySHA256, "\n"}
	c.mac.Reset()
	for _, p := range parts {
		io.WriteString(c.mac, p)
	}
	c.mac.Write(hx[:])
	var sig [64]byte
	hex.Encode(sig[:], c.mac.Sum(sum[:0]))
	if subtle.ConstantTimeCompare(sig[:], []byte(c.chunkSig)) != 1 {
		return &Error{Code: CodeSignatureDoesNotMatch, Message: msgSignatureDoesNotMatch,
			StringToSign: strings.Join(parts[:], "") + string(hx[:])}
	}
	c.prevSig = string(sig[:])
	return nil
}

func (c *chunkReader) hmacHex(s string) string {
	c.mac.Reset()
	io.WriteString(c.mac, s)
	var sum [sha256.Size]byte
	return hex.EncodeToString(c.mac.Sum(sum[:0]))
}

// finish reads what follows the final chunk: CRLF, or the trailer section; then checks
// the decoded length and that nothing follows.
func (c *chunkReader) finish() error {
	if c.trailer == "" {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if line != "" {
			return newError(CodeInvalidRequest, "The final aws-chunked chunk is not followed by CRLF")
		}
	} else if err := c.readTrailers(); err != nil {
		return err
	}
	if c.decoded != c.want {
		return &Error{Code: CodeIncompleteBody, Message: msgIncompleteBody}
	}
	if _, err := c.src.ReadByte(); err != io.EOF {
		return newError(CodeInvalidRequest, "Data follows the end of the aws-chunked body")
	}
	c.done = true
	return nil
}

// readTrailers reads "name:value" lines up to the empty line: exactly the declared
// checksum, then (signed trailer) x-amz-trailer-signature.
func (c *chunkReader) readTrailers() error {
	var value, sig string
	var canonical bytes.Buffer
	for i := 0; ; i++ {
		if i > maxTrailerLines {
			return newError(CodeMalformedTrailer, msgMalformedTrailer)
		}
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if line == "" {
			break
		}
		name, v, ok := strings.Cut(line, ":")
		name = strings.ToLower(name)
		v = strings.TrimSpace(v)
		switch {
		case !ok:
			return newError(CodeMalformedTrailer, msgMalformedTrailer)
		case name == c.trailer && value == "" && sig == "":
			value = v
			canonical.WriteString(name + ":" + v + "\n")
		case name == "x-amz-trailer-signature" && c.signed && sig == "" && value != "":
			sig = v
		default: // undeclared, repeated or out of order
			return newError(CodeMalformedTrailer, msgMalformedTrailer)
		}
	}
	if value == "" || (c.signed && sig == "") {
		return newError(CodeMalformedTrailer, msgMalformedTrailer)
	}
	if c.signed {
		sum := sha256.Sum256(canonical.Bytes())
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + c.amzDate + "\n" + c.scope + "\n" + c.prevSig + "\n" + hex.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(c.hmacHex(sts)), []byte(sig)) != 1 {
			return &Error{Code: CodeSignatureDoesNotMatch, Message: msgSignatureDoesNotMatch, StringToSign: sts}
		}
	}
	got, err := base64.StdEncoding.Strict().DecodeString(value)
	if err != nil || len(got) != c.checksum.Size() {
		return newError(CodeInvalidRequest, "Value for %s trailing header is invalid.", c.trailer)
	}
	if subtle.ConstantTimeCompare(got, c.checksum.Sum(nil)) != 1 {
		algo := strings.ToUpper(strings.TrimPrefix(c.trailer, "x-amz-checksum-"))
		return newError(CodeBadDigest, "The %s you specified did not match the calculated checksum.", algo)
	}
	return nil
}
