package store

import (
	"fmt"
	"time"
)

// Validate reports whether k can be stored. Backends call it before writing.
func (k Key) Validate() error {
	switch {
	case k.ID == "":
		return fmt.Errorf("%w: key without id", ErrInvalid)
	case k.Purpose != PurposeSigning && k.Purpose != PurposeSealing:
		return fmt.Errorf("%w: key %s: unknown purpose %q", ErrInvalid, k.ID, k.Purpose)
	case k.Algorithm == "":
		return fmt.Errorf("%w: key %s: no algorithm", ErrInvalid, k.ID)
	case k.Generation < 1:
		return fmt.Errorf("%w: key %s: generation %d", ErrInvalid, k.ID, k.Generation)
	case !k.State.Valid():
		return fmt.Errorf("%w: key %s: unknown state %q", ErrInvalid, k.ID, k.State)
	case len(k.Material) == 0:
		return fmt.Errorf("%w: key %s: no material", ErrInvalid, k.ID)
	case k.CreatedAt.IsZero():
		return fmt.Errorf("%w: key %s: no creation time", ErrInvalid, k.ID)
	}
	return nil
}

// Validate reports whether r can be stored.
func (r Revocation) Validate() error {
	switch {
	case (r.SessionID == "") == (r.Role == ""):
		return fmt.Errorf("%w: a revocation names exactly one of session id and role", ErrInvalid)
	case r.Role != "" && r.IssuedBefore.IsZero():
		return fmt.Errorf("%w: role revocation of %s without issued-before time", ErrInvalid, r.Role)
	case r.SessionID != "" && !r.IssuedBefore.IsZero():
		return fmt.Errorf("%w: session revocation with an issued-before time", ErrInvalid)
	case r.ExpiresAt.IsZero():
		return fmt.Errorf("%w: revocation without expiry", ErrInvalid)
	}
	return nil
}

// Validate reports whether e can be stored.
func (e AuditEvent) Validate() error {
	switch {
	case e.ID == "":
		return fmt.Errorf("%w: audit event without id", ErrInvalid)
	case e.Time.IsZero():
		return fmt.Errorf("%w: audit event %s without time", ErrInvalid, e.ID)
	case e.Name == "":
		return fmt.Errorf("%w: audit event %s without name", ErrInvalid, e.ID)
	case e.Decision != "" && e.Decision != DecisionAllow && e.Decision != DecisionDeny:
		return fmt.Errorf("%w: audit event %s: decision %q", ErrInvalid, e.ID, e.Decision)
	}
	return nil
}

// Zero-time convention shared by backends: times are stored with microsecond precision
// (PostgreSQL's), in UTC, and the zero time.Time round-trips as zero.

// Micros converts t to microseconds since the Unix epoch; the zero time becomes 0.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros is the inverse of Micros.
func FromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
