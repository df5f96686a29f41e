package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends e as encoding/json would marshal it (same field order, omitempty
// rules, sorted map keys and string escaping, including HTML-safe escaping of <, > and
// &), without reflection for the shapes events carry. Values of other types inside the
// request parameters, response elements or a decision's trace are marshalled with
// encoding/json.
func (e *Event) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"eventVersion":`...)
	b = appendString(b, e.EventVersion)
	b = append(b, `,"userIdentity":`...)
	b = e.UserIdentity.appendJSON(b)
	b = appendField(b, "eventTime", e.EventTime)
	b = appendField(b, "eventSource", e.EventSource)
	b = appendField(b, "eventName", e.EventName)
	b = appendField(b, "awsRegion", e.AWSRegion)
	b = appendField(b, "sourceIPAddress", e.SourceIPAddress)
	b = appendField(b, "userAgent", e.UserAgent)
	var err error
	b = append(b, `,"requestParameters":`...)
	if b, err = appendMap(b, e.RequestParameters); err != nil {
		return nil, err
	}
	b = append(b, `,"responseElements":`...)
	if b, err = appendMap(b, e.ResponseElements); err != nil {
		return nil, err
	}
	b = appendOmitEmpty(b, "errorCode", e.ErrorCode)
	b = appendOmitEmpty(b, "errorMessage", e.ErrorMessage)
	b = appendField(b, "requestID", e.RequestID)
	b = appendField(b, "eventID", e.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, e.ReadOnly)
	if len(e.Resources) > 0 {
		b = append(b, `,"resources":[`...)
		for i, r := range e.Resources {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if r.AccountID != "" {
				b = append(b, `"accountId":`...)
				b = appendString(b, r.AccountID)
				b = append(b, ',')
			}
			b = append(b, `"type":`...)
			b = appendString(b, r.Type)
			b = appendField(b, "ARN", r.ARN)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendField(b, "eventType", e.EventType)
	b = append(b, `,"managementEvent":`...)
	b = strconv.AppendBool(b, e.ManagementEvent)
	b = appendField(b, "recipientAccountId", e.RecipientAccountID)
	b = appendField(b, "eventCategory", e.EventCategory)
	b = append(b, `,"keyless":`...)
	if b, err = e.Keyless.appendJSON(b); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func (u *UserIdentity) appendJSON(b []byte) []byte {
	if u.SessionContext != nil {
		// Rare (S3 events of sessions) and deeply nested: leave it to encoding/json.
		out, err := json.Marshal(u)
		if err == nil {
			return append(b, out...)
		}
	}
	b = append(b, `{"type":`...)
	b = appendString(b, u.Type)
	b = appendOmitEmpty(b, "principalId", u.PrincipalID)
	b = appendOmitEmpty(b, "arn", u.ARN)
	b = appendOmitEmpty(b, "accountId", u.AccountID)
	b = appendOmitEmpty(b, "accessKeyId", u.AccessKeyID)
	b = appendOmitEmpty(b, "userName", u.UserName)
	b = appendOmitEmpty(b, "identityProvider", u.IdentityProvider)
	return append(b, '}')
}

func (k *Keyless) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	start := len(b)
	sep := func() {
		if len(b) > start {
			b = append(b, ',')
		}
	}
	if k.SessionID != "" {
		b = append(b, `"sessionId":`...)
		b = appendString(b, k.SessionID)
	}
	if k.Role != "" {
		sep()
		b = append(b, `"role":`...)
		b = appendString(b, k.Role)
	}
	if k.Subject != "" {
		sep()
		b = append(b, `"subject":`...)
		b = appendString(b, k.Subject)
	}
	if d := k.Decision; d != nil {
		sep()
		b = append(b, `"decision":{"effect":`...)
		b = appendString(b, d.Effect)
		b = appendOmitEmpty(b, "reason", d.Reason)
		if d.Trace != nil {
			b = append(b, `,"trace":`...)
			var err error
			if b, err = appendAny(b, d.Trace); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendField appends ,"name":"value".
func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendOmitEmpty appends ,"name":"value" unless value is empty.
func appendOmitEmpty(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	return appendField(b, name, value)
}

func appendMap(b []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	var small [16]string // the maps of an event are small: keep their keys off the heap
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendAny(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendAny appends the shapes events carry and leaves anything else to encoding/json.
func appendAny(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case map[string]any:
		return appendMap(b, v)
	case map[string]string:
		if v == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, v[k])
		}
		return append(b, '}'), nil
	case []string:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshalling %T: %w", v, err)
	}
	return append(b, out...), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json does: <, >, & and
// control characters as \u00XX (with \b \f \n \r \t short forms), invalid UTF-8 as
// \ufffd, and U+2028, U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
