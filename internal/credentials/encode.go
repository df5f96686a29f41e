package credentials

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"time"
)

// recordVersion is the first byte of the plaintext record.
const recordVersion = 1

// maxPacked bounds the inflated policy-and-tags section, so a token cannot be a
// decompression bomb even if a sealing key leaked.
const maxPacked = 64 << 10

// encode returns the plaintext record of s and, separately, the deflated
// policy-and-tags section it contains (for the packed-size report).
func (z *Sealer) encode(s *Session) (plain, packed []byte, err error) {
	fields := [...]string{s.AccessKeyID, s.SecretAccessKey, s.SessionID, s.RoleARN, s.RoleID,
		s.SessionName, s.Subject, s.Provider, s.Audience, s.SourceIdentity}
	// The record is allocated once at about its final size (lengths are varints of at
	// most 3 bytes here, times two varints of at most 10) instead of growing field by field.
	size := 1 + 3*len(fields) + 3 + 2*10 + 1
	for _, f := range fields {
		size += len(f)
	}
	for _, a := range s.AMR {
		size += 3 + len(a)
	}
	sec := make([]byte, 0, 3+len(s.SessionPolicy)+8)
	sec = appendString(sec, s.SessionPolicy)
	sec = binary.AppendUvarint(sec, uint64(len(s.Tags)))
	for _, t := range s.Tags {
		sec = appendString(sec, t.Key)
		sec = appendString(sec, t.Value)
	}
	sec = appendStrings(sec, s.TransitiveTagKeys)
	deflated := byte(1)
	if len(sec) > 3 { // something to pack: deflate it
		var buf bytes.Buffer
		w, _ := z.writers.Get().(*flate.Writer)
		if w == nil {
			w, _ = flate.NewWriter(&buf, flate.BestCompression)
		} else {
			w.Reset(&buf)
		}
		_, _ = w.Write(sec)
		err := w.Close()
		z.writers.Put(w)
		if err != nil {
			return nil, nil, err
		}
		packed = buf.Bytes()
	} else {
		packed = sec
		deflated = 0
	}
	b := make([]byte, 0, size+1+binary.MaxVarintLen64+len(packed))
	b = append(b, recordVersion)
	for _, f := range fields {
		b = appendString(b, f)
	}
	b = appendStrings(b, s.AMR)
	b = binary.AppendVarint(b, s.IssuedAt.Unix())
	b = binary.AppendVarint(b, s.Expiration.Unix())
	b = append(b, deflated)
	b = appendBytes(b, packed)
	return b, packed, nil
}

func (z *Sealer) decode(p []byte) (*Session, error) {
	r := &reader{b: p}
	if r.byte() != recordVersion {
		return nil, errors.New("unknown record version")
	}
	s := &Session{}
	for _, f := range []*string{&s.AccessKeyID, &s.SecretAccessKey, &s.SessionID, &s.RoleARN, &s.RoleID,
		&s.SessionName, &s.Subject, &s.Provider, &s.Audience, &s.SourceIdentity} {
		*f = r.string()
	}
	s.AMR = r.strings()
	s.IssuedAt = time.Unix(r.varint(), 0).UTC()
	s.Expiration = time.Unix(r.varint(), 0).UTC()
	deflated := r.byte()
	sec := r.bytes()
	if r.err != nil || len(r.b) != 0 {
		return nil, errors.New("bad record")
	}
	if deflated == 1 {
		fr, _ := z.readers.Get().(io.ReadCloser)
		if fr == nil {
			fr = flate.NewReader(bytes.NewReader(sec))
		} else {
			_ = fr.(flate.Resetter).Reset(bytes.NewReader(sec), nil)
		}
		inflated, err := io.ReadAll(io.LimitReader(fr, maxPacked+1))
		z.readers.Put(fr)
		if err != nil || len(inflated) > maxPacked {
			return nil, errors.New("bad packed section")
		}
		sec = inflated
	}
	sr := &reader{b: sec}
	s.SessionPolicy = sr.string()
	n := sr.uvarint()
	if n > 1000 {
		return nil, errors.New("too many tags")
	}
	for i := uint64(0); i < n && sr.err == nil; i++ {
		s.Tags = append(s.Tags, Tag{Key: sr.string(), Value: sr.string()})
	}
	s.TransitiveTagKeys = sr.strings()
	if sr.err != nil || len(sr.b) != 0 {
		return nil, errors.New("bad packed section")
	}
	return s, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// reader decodes the record; the first error sticks and later reads return zero values.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("short record")

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errShort
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) string() string { return string(r.bytes()) }

func (r *reader) strings() []string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	var out []string
	for i := uint64(0); i < n && r.err == nil; i++ {
		out = append(out, r.string())
	}
	return out
}
