package policy

import (
	"encoding/json"
	"fmt"
)

// jvalue is a decoded JSON value that keeps object members in document order (IAM
// documents are small; one pass over the bytes is much cheaper than encoding/json's
// RawMessage round trips, and the order keeps traces and problems in document order).
type jvalue struct {
	kind    byte     // '{', '[', '"', '0' (number), 't', 'f', 'n'
	text    string   // a string's value, or a number's or literal's source text
	items   []jvalue // array items
	members []member // object members
}

type member struct {
	name  string
	value jvalue
}

// maxDepth bounds nesting; IAM documents need four levels.
const maxDepth = 32

// parseJSON decodes one JSON value that must fill data (surrounding space allowed).
func parseJSON(data []byte) (jvalue, error) {
	d := jdecoder{data: data}
	v, err := d.value(0)
	if err == nil {
		d.space()
		if d.pos < len(d.data) {
			err = d.fail("unexpected data after the top-level value")
		}
	}
	if err != nil {
		var any json.RawMessage
		if jerr := json.Unmarshal(data, &any); jerr != nil {
			return jvalue{}, jerr // the standard library's wording where it has one
		}
		return jvalue{}, err
	}
	return v, nil
}

type jdecoder struct {
	data []byte
	pos  int
}

func (d *jdecoder) fail(msg string) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", d.pos, msg)
}

func (d *jdecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\r', '\n':
			d.pos++
		default:
			return
		}
	}
}

func (d *jdecoder) value(depth int) (jvalue, error) {
	if depth > maxDepth {
		return jvalue{}, d.fail("nested too deeply")
	}
	d.space()
	if d.pos >= len(d.data) {
		return jvalue{}, d.fail("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		s, err := d.str()
		return jvalue{kind: '"', text: s}, err
	case c == 't':
		return d.literal("true", 't')
	case c == 'f':
		return d.literal("false", 'f')
	case c == 'n':
		return d.literal("null", 'n')
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return jvalue{}, d.fail("unexpected character")
}

func (d *jdecoder) object(depth int) (jvalue, error) {
	v := jvalue{kind: '{'}
	d.pos++
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return v, nil
	}
	for {
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return jvalue{}, d.fail("expected a member name")
		}
		name, err := d.str()
		if err != nil {
			return jvalue{}, err
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return jvalue{}, d.fail("expected ':'")
		}
		d.pos++
		item, err := d.value(depth + 1)
		if err != nil {
			return jvalue{}, err
		}
		v.members = append(v.members, member{name: name, value: item})
		d.space()
		if d.pos < len(d.data) && d.data[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.pos < len(d.data) && d.data[d.pos] == '}' {
			d.pos++
			return v, nil
		}
		return jvalue{}, d.fail("expected ',' or '}'")
	}
}

func (d *jdecoder) array(depth int) (jvalue, error) {
	v := jvalue{kind: '['}
	d.pos++
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return v, nil
	}
	for {
		item, err := d.value(depth + 1)
		if err != nil {
			return jvalue{}, err
		}
		v.items = append(v.items, item)
		d.space()
		if d.pos < len(d.data) && d.data[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return v, nil
		}
		return jvalue{}, d.fail("expected ',' or ']'")
	}
}

// str decodes the string at d.pos; strings with escapes go through encoding/json.
func (d *jdecoder) str() (string, error) {
	start := d.pos
	d.pos++
	escaped := false
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c == '"':
			d.pos++
			if !escaped {
				return string(d.data[start+1 : d.pos-1]), nil
			}
			var s string
			if err := json.Unmarshal(d.data[start:d.pos], &s); err != nil {
				return "", d.fail("bad escape in string")
			}
			return s, nil
		case c == '\\':
			escaped = true
			d.pos += 2
		case c < 0x20:
			return "", d.fail("control character in string")
		default:
			d.pos++
		}
	}
	return "", d.fail("unterminated string")
}

func (d *jdecoder) literal(word string, kind byte) (jvalue, error) {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return jvalue{}, d.fail("unknown literal")
	}
	d.pos += len(word)
	return jvalue{kind: kind, text: word}, nil
}

// number checks JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *jdecoder) number() (jvalue, error) {
	start := d.pos
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	if d.data[d.pos] == '-' {
		d.pos++
	}
	if d.pos < len(d.data) && d.data[d.pos] == '0' {
		d.pos++
	} else if digits() == 0 {
		return jvalue{}, d.fail("bad number")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			return jvalue{}, d.fail("bad number")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return jvalue{}, d.fail("bad number")
		}
	}
	return jvalue{kind: '0', text: string(d.data[start:d.pos])}, nil
}
