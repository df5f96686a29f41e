// Package store declares keyless's storage interfaces and their record types: keys at rest,
// revocations and audit events. Backends live in subpackages (sqlite, later postgres) and
// every backend passes the conformance suite in storetest.
//
// The interfaces are small on purpose: a consumer declares the one it needs (keys.Ring takes
// a Keys, the STS a Revocations, the audit sink an Audit). Store bundles them for wiring.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors returned by every backend.
var (
	// ErrNotFound reports that no record has the requested id.
	ErrNotFound = errors.New("store: not found")
	// ErrExists reports that a record with the same id (or, for keys, the same purpose and
	// generation) already exists. Creation is insert-if-absent so that several nodes starting
	// at once agree on one record.
	ErrExists = errors.New("store: already exists")
	// ErrInvalid reports a record that the store refuses (empty id, unknown state, ...).
	ErrInvalid = errors.New("store: invalid record")
)

// Store bundles every interface a backend provides.
type Store interface {
	Keys
	Revocations
	Audit
	// Ping checks that the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// KeyPurpose says what a key is for.
type KeyPurpose string

// Key purposes.
const (
	PurposeSigning KeyPurpose = "signing" // JWS signing keys of the CI token issuer
	PurposeSealing KeyPurpose = "sealing" // AEAD keys that seal session tokens
)

// KeyState is a key's place in its life cycle: active -> retiring -> retired.
type KeyState string

// Key states.
const (
	// KeyActive keys are published; the active key with the highest generation is used.
	KeyActive KeyState = "active"
	// KeyRetiring keys are no longer used to sign or seal but are still published (or still
	// open sealed data) until RetireAt, so that nothing they produced is orphaned.
	KeyRetiring KeyState = "retiring"
	// KeyRetired keys are neither used nor published.
	KeyRetired KeyState = "retired"
)

// Valid reports whether s is one of the known states.
func (s KeyState) Valid() bool {
	return s == KeyActive || s == KeyRetiring || s == KeyRetired
}

// Key is one signing or sealing key at rest. The store treats Material as opaque: it is the
// private key sealed by the keys package under the master key, never plaintext.
type Key struct {
	ID         string     // the kid, unique across purposes
	Purpose    KeyPurpose // signing or sealing
	Algorithm  string     // RS256, ES256, A256GCM, ...
	Generation int64      // 1 for the first key of a purpose, +1 per rotation; unique per purpose
	State      KeyState
	Material   []byte    // sealed private key material
	CreatedAt  time.Time // when the key was generated
	RetiringAt time.Time // when it stopped being used (zero while active)
	RetireAt   time.Time // when it stops being published (zero while active)
}

// Keys stores signing and sealing keys.
type Keys interface {
	// CreateKey inserts k if no key has its ID, nor its Purpose and Generation; otherwise it
	// returns ErrExists and changes nothing.
	CreateKey(ctx context.Context, k Key) error
	// GetKey returns the key with this id, or ErrNotFound.
	GetKey(ctx context.Context, id string) (Key, error)
	// ListKeys returns every key of this purpose (retired ones included), by generation.
	ListKeys(ctx context.Context, purpose KeyPurpose) ([]Key, error)
	// UpdateKey reads the key, calls fn with it and stores what fn returns, atomically with
	// respect to other UpdateKey calls. An error from fn aborts the update and is returned
	// as is. ID, Purpose and Generation cannot change.
	UpdateKey(ctx context.Context, id string, fn func(old Key) (Key, error)) (Key, error)
}

// Revocation withdraws sessions before they expire. Exactly one of SessionID and Role is set:
// a session revocation names one session; a role revocation covers every session of Role
// issued before IssuedBefore.
type Revocation struct {
	SessionID    string
	Role         string
	IssuedBefore time.Time // role revocations only
	CreatedAt    time.Time
	// ExpiresAt is when the revocation stops mattering (the latest expiry of any session it
	// covers); PruneRevocations removes it after that.
	ExpiresAt time.Time
	Reason    string
}

// Revocations stores the small shared revocation list that every node caches.
type Revocations interface {
	// Revoke records r. Revoking the same session twice keeps one entry; revoking a role
	// again keeps the later IssuedBefore and the later ExpiresAt.
	Revoke(ctx context.Context, r Revocation) error
	// ListRevocations returns every revocation not yet pruned, sessions first, in a stable
	// order.
	ListRevocations(ctx context.Context) ([]Revocation, error)
	// PruneRevocations deletes revocations whose ExpiresAt is before now and returns how
	// many it deleted.
	PruneRevocations(ctx context.Context, now time.Time) (int, error)
}

// Decision values of an audit event.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// AuditEvent is one stored audit event: a few indexed fields plus the whole event as JSON.
type AuditEvent struct {
	ID        string    // eventID, unique; appending an ID already stored is a no-op
	Time      time.Time // eventTime
	Name      string    // eventName, e.g. AssumeRoleWithWebIdentity, PutObject
	Source    string    // eventSource, e.g. sts.amazonaws.com
	Role      string    // role name, when there is one
	Subject   string    // token subject or principal
	SessionID string
	Decision  string          // DecisionAllow or DecisionDeny
	Data      json.RawMessage // the complete CloudTrail-shaped event
}

// AuditQuery selects audit events. Zero fields do not filter.
type AuditQuery struct {
	Since    time.Time // events at or after Since
	Until    time.Time // events before Until
	Name     string
	Role     string
	Subject  string
	Decision string
	Limit    int // at most this many (0: no limit), oldest first
}

// Audit stores audit events.
type Audit interface {
	// AppendAudit stores a batch of events in one transaction (group commit): all or none.
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// QueryAudit returns the matching events, oldest first (ties in insertion order).
	QueryAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}
