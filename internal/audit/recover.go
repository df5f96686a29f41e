package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/store"
)

// RecoverBytes is how much of the end of the JSON-lines file RecoverTail reads by
// default: far more than the events a writer can hold uncommitted (its queue of 4096
// plus a batch, and deferred events of ~1.5 KB).
const RecoverBytes = 16 << 20

// RecoverTail gives the store every event of the last maxBytes of the JSON-lines file
// at path again, before a node starts recording. The store keeps the first copy of an
// event id (ON CONFLICT DO NOTHING), so this only adds the events it lacks:
//
//   - deferred events (Writer.RecordDeferred) whose lines were written but whose group
//     commit the process did not live to run;
//   - events whose SQLite commit a power loss undid (SQLite runs with
//     synchronous=NORMAL) while the fsynced file kept them.
//
// Lines that are not complete JSON events (a torn last line) are skipped and counted.
// The index fields are rebuilt from the line: name, source, keyless.role,
// keyless.subject, keyless.sessionId, the decision (deny when errorCode is set or
// keyless.decision.effect is "deny") and the time, taken from the UUIDv7 event id (to
// the millisecond) or else from eventTime. A missing file is not an error.
func RecoverTail(ctx context.Context, path string, st Appender, maxBytes int64) (offered, skipped int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("audit: recover: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("audit: recover: %w", err)
	}
	// One byte before the window too: it says whether the window starts on a line.
	start := max(fi.Size()-maxBytes-1, 0)
	data := make([]byte, fi.Size()-start)
	if _, err := f.ReadAt(data, start); err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, fmt.Errorf("audit: recover: %w", err)
	}
	if start > 0 { // skip to the first line that starts inside the window
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return 0, 0, nil
		}
		data = data[i+1:]
	}
	var batch []store.AuditEvent
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := st.AppendAudit(ctx, batch); err != nil {
			return fmt.Errorf("audit: recover: %w", err)
		}
		offered += len(batch)
		batch = batch[:0]
		return nil
	}
	for len(data) > 0 {
		line := data
		i := bytes.IndexByte(data, '\n')
		if i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, ok := parseLine(line)
		if !ok {
			skipped++
			continue
		}
		batch = append(batch, ev)
		if len(batch) == 256 {
			if err := flush(); err != nil {
				return offered, skipped, err
			}
		}
	}
	return offered, skipped, flush()
}

// lineFields are the parts of an event line its index fields come from.
type lineFields struct {
	EventID     string `json:"eventID"`
	EventTime   string `json:"eventTime"`
	EventName   string `json:"eventName"`
	EventSource string `json:"eventSource"`
	ErrorCode   string `json:"errorCode"`
	Keyless     struct {
		SessionID string `json:"sessionId"`
		Role      string `json:"role"`
		Subject   string `json:"subject"`
		Decision  *struct {
			Effect string `json:"effect"`
		} `json:"decision"`
	} `json:"keyless"`
}

func parseLine(line []byte) (store.AuditEvent, bool) {
	var l lineFields
	if json.Unmarshal(line, &l) != nil || l.EventID == "" || l.EventName == "" {
		return store.AuditEvent{}, false
	}
	t, ok := uuidV7Time(l.EventID)
	if !ok {
		var err error
		if t, err = time.Parse(time.RFC3339, l.EventTime); err != nil {
			return store.AuditEvent{}, false
		}
	}
	decision := store.DecisionAllow
	if l.ErrorCode != "" || (l.Keyless.Decision != nil && l.Keyless.Decision.Effect == Deny) {
		decision = store.DecisionDeny
	}
	return store.AuditEvent{ID: l.EventID, Time: t.UTC(), Name: l.EventName, Source: l.EventSource,
		Role: l.Keyless.Role, Subject: l.Keyless.Subject, SessionID: l.Keyless.SessionID,
		Decision: decision, Data: bytes.Clone(line)}, true
}

// uuidV7Time is the millisecond time of a version 7 UUID (newEventID).
func uuidV7Time(id string) (time.Time, bool) {
	h := strings.ReplaceAll(id, "-", "")
	if len(h) != 32 || h[12] != '7' {
		return time.Time{}, false
	}
	b, err := hex.DecodeString(h[:12])
	if err != nil {
		return time.Time{}, false
	}
	var ms int64
	for _, c := range b {
		ms = ms<<8 | int64(c)
	}
	return time.UnixMilli(ms), true
}
