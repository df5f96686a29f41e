package idtoken

import (
	"encoding/json"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// maxClaimsDepth bounds nesting in claims, as encoding/json does.
const maxClaimsDepth = 10000

var (
	errClaimsNotObject = errors.New("claims are not a json object")
	errClaimsTrailing  = errors.New("trailing data after claims")
	errClaimsSyntax    = errors.New("claims are not valid json")
	errClaimsDepth     = errors.New("claims nested too deeply")
)

// decodeClaims decodes a JSON object in one pass, numbers kept as json.Number. It
// decodes exactly what encoding/json's Decoder with UseNumber decodes into a
// map[string]any (later duplicate keys win, invalid UTF-8 and lone surrogates become
// U+FFFD) and refuses what it refuses; FuzzDecodeClaimsAgreesWithEncodingJSON holds it
// to that.
func decodeClaims(payload []byte) (map[string]any, error) {
	// One copy of the payload as a string: strings without escapes are slices of it.
	d := claimsDecoder{data: payload, src: string(payload)}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == 'n' {
		if err := d.literal("null"); err != nil {
			return nil, err
		}
		return nil, errClaimsNotObject
	}
	if d.pos >= len(d.data) || d.data[d.pos] != '{' {
		return nil, errClaimsNotObject
	}
	m, err := d.object(0)
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, errClaimsTrailing
	}
	return m, nil
}

type claimsDecoder struct {
	data []byte
	src  string // data as a string
	pos  int
}

func (d *claimsDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *claimsDecoder) value(depth int) (any, error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return nil, errClaimsSyntax
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		return d.string()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, errClaimsSyntax
}

func (d *claimsDecoder) literal(lit string) error {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return errClaimsSyntax
	}
	d.pos += len(lit)
	return nil
}

func (d *claimsDecoder) object(depth int) (map[string]any, error) {
	if depth++; depth > maxClaimsDepth {
		return nil, errClaimsDepth
	}
	d.pos++ // {
	m := make(map[string]any)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, errClaimsSyntax
		}
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, errClaimsSyntax
		}
		d.pos++
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, errClaimsSyntax
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, nil
		default:
			return nil, errClaimsSyntax
		}
	}
}

func (d *claimsDecoder) array(depth int) ([]any, error) {
	if depth++; depth > maxClaimsDepth {
		return nil, errClaimsDepth
	}
	d.pos++ // [
	a := []any{}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return a, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, errClaimsSyntax
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return a, nil
		default:
			return nil, errClaimsSyntax
		}
	}
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and keeps its text.
func (d *claimsDecoder) number() (json.Number, error) {
	start := d.pos
	if d.data[d.pos] == '-' {
		d.pos++
	}
	switch {
	case d.pos < len(d.data) && d.data[d.pos] == '0':
		d.pos++
	case d.pos < len(d.data) && d.data[d.pos] >= '1' && d.data[d.pos] <= '9':
		d.digits()
	default:
		return "", errClaimsSyntax
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if d.digits() == 0 {
			return "", errClaimsSyntax
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if d.digits() == 0 {
			return "", errClaimsSyntax
		}
	}
	return json.Number(d.src[start:d.pos]), nil
}

func (d *claimsDecoder) digits() int {
	start := d.pos
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		d.pos++
	}
	return d.pos - start
}

// string decodes a quoted string; d.data[d.pos] is the opening quote.
func (d *claimsDecoder) string() (string, error) {
	d.pos++
	start := d.pos
	// Fast path: no escapes, ASCII or valid UTF-8.
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if c == '"' {
			s := d.src[start:d.pos]
			d.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		d.pos++
	}
	buf := make([]byte, 0, d.pos-start+16)
	buf = append(buf, d.data[start:d.pos]...)
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			return string(buf), nil
		case c < 0x20:
			return "", errClaimsSyntax
		case c == '\\':
			var err error
			if buf, err = d.escape(buf); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			d.pos++
		default:
			r, size := utf8.DecodeRune(d.data[d.pos:])
			d.pos += size
			buf = utf8.AppendRune(buf, r) // invalid bytes become U+FFFD
		}
	}
	return "", errClaimsSyntax
}

// escape decodes one backslash escape at d.pos onto buf.
func (d *claimsDecoder) escape(buf []byte) ([]byte, error) {
	if d.pos+1 >= len(d.data) {
		return nil, errClaimsSyntax
	}
	c := d.data[d.pos+1]
	d.pos += 2
	switch c {
	case '"', '\\', '/':
		return append(buf, c), nil
	case 'b':
		return append(buf, '\b'), nil
	case 'f':
		return append(buf, '\f'), nil
	case 'n':
		return append(buf, '\n'), nil
	case 'r':
		return append(buf, '\r'), nil
	case 't':
		return append(buf, '\t'), nil
	case 'u':
		r, ok := d.hex4(d.pos)
		if !ok {
			return nil, errClaimsSyntax
		}
		d.pos += 4
		if utf16.IsSurrogate(r) {
			r2, ok := rune(-1), false
			if d.pos+1 < len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
				r2, ok = d.hex4(d.pos + 2)
			}
			if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
				d.pos += 6
				r = dec
			} else {
				r = utf8.RuneError
			}
		}
		return utf8.AppendRune(buf, r), nil
	}
	return nil, errClaimsSyntax
}

func (d *claimsDecoder) hex4(at int) (rune, bool) {
	if at+4 > len(d.data) {
		return 0, false
	}
	var r rune
	for _, c := range d.data[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
