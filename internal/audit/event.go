// Package audit records one CloudTrail-shaped event per STS call and per S3 request,
// allowed or denied, with keyless's own "keyless" object holding the session id and the
// policy trace that explains the decision. Events are typed structs written through a
// Sink, never log lines.
package audit

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Event is one audit event, with CloudTrail's field names.
type Event struct {
	EventVersion       string         `json:"eventVersion"`
	UserIdentity       UserIdentity   `json:"userIdentity"`
	EventTime          string         `json:"eventTime"`
	EventSource        string         `json:"eventSource"`
	EventName          string         `json:"eventName"`
	AWSRegion          string         `json:"awsRegion"`
	SourceIPAddress    string         `json:"sourceIPAddress"`
	UserAgent          string         `json:"userAgent"`
	RequestParameters  map[string]any `json:"requestParameters"`
	ResponseElements   map[string]any `json:"responseElements"`
	ErrorCode          string         `json:"errorCode,omitempty"`
	ErrorMessage       string         `json:"errorMessage,omitempty"`
	RequestID          string         `json:"requestID"`
	EventID            string         `json:"eventID"`
	ReadOnly           bool           `json:"readOnly"`
	Resources          []Resource     `json:"resources,omitempty"`
	EventType          string         `json:"eventType"`
	ManagementEvent    bool           `json:"managementEvent"`
	RecipientAccountID string         `json:"recipientAccountId"`
	EventCategory      string         `json:"eventCategory"`
	Keyless            Keyless        `json:"keyless"`

	// Indexed fields for the store; not part of the JSON.
	time    time.Time
	role    string
	subject string
}

// UserIdentity is CloudTrail's userIdentity.
type UserIdentity struct {
	Type             string          `json:"type"`
	PrincipalID      string          `json:"principalId,omitempty"`
	ARN              string          `json:"arn,omitempty"`
	AccountID        string          `json:"accountId,omitempty"`
	AccessKeyID      string          `json:"accessKeyId,omitempty"`
	UserName         string          `json:"userName,omitempty"`
	IdentityProvider string          `json:"identityProvider,omitempty"`
	SessionContext   *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes the role session behind a request made with temporary credentials.
type SessionContext struct {
	SessionIssuer struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
		ARN         string `json:"arn"`
		AccountID   string `json:"accountId"`
		UserName    string `json:"userName"`
	} `json:"sessionIssuer"`
	WebIDFederationData *struct {
		FederatedProvider string `json:"federatedProvider"`
	} `json:"webIdFederationData,omitempty"`
	Attributes struct {
		CreationDate     string `json:"creationDate"`
		MFAAuthenticated string `json:"mfaAuthenticated"`
	} `json:"attributes"`
	SourceIdentity string `json:"sourceIdentity,omitempty"`
}

// Resource is one entry of CloudTrail's resources list.
type Resource struct {
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

// Keyless is keyless's own part of every event.
type Keyless struct {
	SessionID string `json:"sessionId,omitempty"`
	Role      string `json:"role,omitempty"`
	// Subject is the indexed subject (a token's sub, or a session's): in the JSON too,
	// so that RecoverTail can rebuild an event's index fields from its line.
	Subject  string    `json:"subject,omitempty"`
	Decision *Decision `json:"decision,omitempty"`
}

// Decision explains why a request was allowed or denied.
type Decision struct {
	// Effect is "allow" or "deny".
	Effect string `json:"effect"`
	// Reason is one line a person can read: which check or statement decided.
	Reason string `json:"reason,omitempty"`
	// Trace is the policy engine's full trace (JSON), when a policy was evaluated.
	Trace any `json:"trace,omitempty"`
}

// Decision effects.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Event sources and categories.
const (
	SourceSTS = "sts.amazonaws.com"
	SourceS3  = "s3.amazonaws.com"
)

// New returns an event with the envelope filled in: version, time, ids, source and
// category. role and subject are indexed for queries (they may be empty).
func New(now time.Time, source, name, requestID, role, subject string) *Event {
	e := &Event{
		EventVersion: "1.08",
		EventTime:    now.UTC().Format(time.RFC3339),
		EventSource:  source,
		EventName:    name,
		RequestID:    requestID,
		EventID:      newEventID(now),
		EventType:    "AwsApiCall",
		time:         now.UTC(),
		role:         role,
		subject:      subject,
	}
	if source == SourceS3 {
		e.EventCategory = "Data"
	} else {
		e.EventCategory = "Management"
		e.ManagementEvent = true
	}
	e.Keyless.Role = role
	e.Keyless.Subject = subject
	return e
}

// Time is when the event happened.
func (e *Event) Time() time.Time { return e.time }

// SetSubject sets the indexed subject (a token's sub, or a session's principal).
func (e *Event) SetSubject(s string) { e.subject, e.Keyless.Subject = s, s }

// newEventID returns a UUID version 7 (RFC 9562): the event time in milliseconds, then
// random bits. Like CloudTrail's, it is a UUID; being time-ordered, new events land at
// the end of the store's unique index on event ids instead of on a random page of it,
// which keeps each group commit to a few pages.
func newEventID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(max(now.UnixMilli(), 0))
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
