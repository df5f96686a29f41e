package sqlite

// maxJSONDepth bounds nesting, as encoding/json does.
const maxJSONDepth = 10000

// validJSON reports whether b is one JSON value (with optional surrounding space),
// exactly as encoding/json.Valid does (which accepts any byte from 0x80 up inside
// strings), in one pass; audit events are mostly string bytes, which it skips with a
// table lookup each, several times faster than json.Valid's state machine.
// FuzzValidJSONAgreesWithEncodingJSON holds the two together.
func validJSON(b []byte) bool {
	v := jsonValidator{b: b}
	v.space()
	if !v.value(0) {
		return false
	}
	v.space()
	return v.i == len(v.b)
}

// plainStringByte marks the bytes a JSON string holds as they are: not a control
// character, not '"' and not '\\'. A constant table, filled once, never written.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

type jsonValidator struct {
	b []byte
	i int
}

func (v *jsonValidator) space() {
	for v.i < len(v.b) && (v.b[v.i] == ' ' || v.b[v.i] == '\t' || v.b[v.i] == '\n' || v.b[v.i] == '\r') {
		v.i++
	}
}

func (v *jsonValidator) value(depth int) bool {
	if v.i >= len(v.b) {
		return false
	}
	switch c := v.b[v.i]; {
	case c == '{':
		return v.container(depth, '}', true)
	case c == '[':
		return v.container(depth, ']', false)
	case c == '"':
		return v.str()
	case c == 't':
		return v.lit("true")
	case c == 'f':
		return v.lit("false")
	case c == 'n':
		return v.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return v.num()
	}
	return false
}

func (v *jsonValidator) lit(s string) bool {
	if len(v.b)-v.i < len(s) || string(v.b[v.i:v.i+len(s)]) != s {
		return false
	}
	v.i += len(s)
	return true
}

// container checks an object (keyed) or an array up to its closing byte.
func (v *jsonValidator) container(depth int, end byte, keyed bool) bool {
	if depth++; depth > maxJSONDepth {
		return false
	}
	v.i++
	v.space()
	if v.i < len(v.b) && v.b[v.i] == end {
		v.i++
		return true
	}
	for {
		v.space()
		if keyed {
			if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
				return false
			}
			v.space()
			if v.i >= len(v.b) || v.b[v.i] != ':' {
				return false
			}
			v.i++
			v.space()
		}
		if !v.value(depth) {
			return false
		}
		v.space()
		if v.i >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case ',':
			v.i++
		case end:
			v.i++
			return true
		default:
			return false
		}
	}
}

func (v *jsonValidator) str() bool {
	v.i++
	for {
		for v.i < len(v.b) && plainStringByte[v.b[v.i]] {
			v.i++
		}
		if v.i >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case '"':
			v.i++
			return true
		case '\\':
			if !v.escape() {
				return false
			}
		default: // a control character
			return false
		}
	}
}

func (v *jsonValidator) escape() bool {
	if v.i+1 >= len(v.b) {
		return false
	}
	switch v.b[v.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		v.i += 2
		return true
	case 'u':
		if v.i+6 > len(v.b) {
			return false
		}
		for _, h := range v.b[v.i+2 : v.i+6] {
			if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
				return false
			}
		}
		v.i += 6
		return true
	}
	return false
}

func (v *jsonValidator) num() bool {
	if v.b[v.i] == '-' {
		v.i++
	}
	switch {
	case v.i < len(v.b) && v.b[v.i] == '0':
		v.i++
	case v.i < len(v.b) && v.b[v.i] >= '1' && v.b[v.i] <= '9':
		v.digits()
	default:
		return false
	}
	if v.i < len(v.b) && v.b[v.i] == '.' {
		v.i++
		if v.digits() == 0 {
			return false
		}
	}
	if v.i < len(v.b) && (v.b[v.i] == 'e' || v.b[v.i] == 'E') {
		v.i++
		if v.i < len(v.b) && (v.b[v.i] == '+' || v.b[v.i] == '-') {
			v.i++
		}
		if v.digits() == 0 {
			return false
		}
	}
	return true
}

func (v *jsonValidator) digits() int {
	start := v.i
	for v.i < len(v.b) && v.b[v.i] >= '0' && v.b[v.i] <= '9' {
		v.i++
	}
	return v.i - start
}
