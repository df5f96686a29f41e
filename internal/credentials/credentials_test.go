package credentials

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fixedKeys is a faithful stand-in for the keys package's ring: a current key and the
// keys that may still open tokens.
type fixedKeys struct {
	current string
	keys    map[string][]byte
}

func (k *fixedKeys) SealingKey() (string, []byte, error) { return k.current, k.keys[k.current], nil }
func (k *fixedKeys) OpeningKey(kid string) ([]byte, bool) {
	key, ok := k.keys[kid]
	return key, ok
}

func newKeys(kids ...string) *fixedKeys {
	k := &fixedKeys{current: kids[0], keys: map[string][]byte{}}
	for _, id := range kids {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		k.keys[id] = b
	}
	return k
}

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func sampleSession() *Session {
	return &Session{
		AccessKeyID:       NewAccessKeyID(),
		SecretAccessKey:   NewSecretAccessKey(),
		SessionID:         NewSessionID(),
		RoleARN:           "arn:aws:iam::123456789012:role/ci/CircleCI-OIDC-Role",
		RoleID:            "AROAABCDEFGHIJKLMNOPQ",
		SessionName:       "circleci-deploy-session-1",
		Subject:           "org/o/project/p/user/u/vcs-origin/github.com/o/r/vcs-ref/refs/heads/main",
		Provider:          "arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/o",
		Audience:          "o",
		AMR:               []string{"mfa"},
		SessionPolicy:     `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`,
		Tags:              []Tag{{"Project", "site"}, {"Team", ""}},
		TransitiveTagKeys: []string{"Project"},
		SourceIdentity:    "alice",
		IssuedAt:          t0,
		Expiration:        t0.Add(time.Hour),
	}
}

func TestSealedTokensOpenToTheSameSession(t *testing.T) {
	s := NewSealer(newKeys("k1"), func() time.Time { return t0.Add(time.Minute) })
	for _, tt := range []struct {
		name string
		sess *Session
	}{
		{"a full session with policy, tags and source identity", sampleSession()},
		{"a bare session with nothing optional", &Session{AccessKeyID: NewAccessKeyID(), SecretAccessKey: "s", RoleARN: "arn:aws:iam::123456789012:role/R", IssuedAt: t0, Expiration: t0.Add(time.Hour)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.Seal(tt.sess)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			got, err := s.Open(tok)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if diff := cmp.Diff(tt.sess, got); diff != "" {
				t.Errorf("opened session (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDerivedNamesFollowAWS(t *testing.T) {
	s := sampleSession()
	got := []string{s.AssumedRoleARN(), s.AssumedRoleID(), s.Account(), s.RoleName()}
	want := []string{"arn:aws:sts::123456789012:assumed-role/CircleCI-OIDC-Role/circleci-deploy-session-1",
		"AROAABCDEFGHIJKLMNOPQ:circleci-deploy-session-1", "123456789012", "CircleCI-OIDC-Role"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if id := NewAccessKeyID(); len(id) != 20 || !strings.HasPrefix(id, "ASIA") || strings.ToUpper(id) != id {
		t.Errorf("access key id %q is not ASIA + 16 upper-case characters", id)
	}
	if len(NewSecretAccessKey()) != 40 {
		t.Errorf("secret is not 40 characters")
	}
}

func TestOpenRejectsEveryAlteredToken(t *testing.T) {
	keys := newKeys("k1")
	s := NewSealer(keys, func() time.Time { return t0 })
	tok, err := s.Seal(sampleSession())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		mod := append([]byte(nil), raw...)
		mod[i] ^= 0x01
		if _, err := s.Open(base64.RawURLEncoding.EncodeToString(mod)); err == nil {
			t.Fatalf("token with byte %d flipped was accepted", i)
		}
	}
	other := NewSealer(newKeys("k1"), func() time.Time { return t0 }) // same kid, other key material
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"a truncated token", tok[:len(tok)-10], ErrMalformed},
		{"an empty token", "", ErrMalformed},
		{"a token that is not base64", strings.Repeat("!", 40), ErrMalformed},
		{"an AWS-looking token", "FwoGZXIvYXdzEBYaDH7example", ErrMalformed},
		{"a token longer than any keyless mints", strings.Repeat("A", MaxTokenLen+1), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is malformed", func(t *testing.T) {
			if _, err := s.Open(tt.token); !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("a token sealed by another deployment is malformed", func(t *testing.T) {
		if _, err := other.Open(tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("Open = %v, want ErrMalformed", err)
		}
	})
	t.Run("a token sealed with a key this node does not know is refused", func(t *testing.T) {
		k2 := NewSealer(newKeys("k2"), func() time.Time { return t0 })
		if _, err := k2.Open(tok); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Open = %v, want ErrUnknownKey", err)
		}
	})
}

func TestExpiredSessionsAreReturnedWithErrExpired(t *testing.T) {
	now := t0
	s := NewSealer(newKeys("k1"), func() time.Time { return now })
	sess := sampleSession()
	tok, _ := s.Seal(sess)
	for _, tt := range []struct {
		name    string
		at      time.Time
		expired bool
	}{
		{"one second before expiry", sess.Expiration.Add(-time.Second), false},
		{"at the expiry instant", sess.Expiration, true},
		{"a day later", sess.Expiration.Add(24 * time.Hour), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now = tt.at
			got, err := s.Open(tok)
			if tt.expired != errors.Is(err, ErrExpired) {
				t.Fatalf("Open err = %v, expired want %v", err, tt.expired)
			}
			if got == nil || got.SessionID != sess.SessionID {
				t.Errorf("the session must be returned even when expired, got %+v", got)
			}
		})
	}
}

func TestRotatedKeysStillOpenOlderTokens(t *testing.T) {
	keys := newKeys("k1", "k2")
	s := NewSealer(keys, func() time.Time { return t0 })
	old, _ := s.Seal(sampleSession())
	keys.current = "k2"
	fresh, _ := s.Seal(sampleSession())
	for _, tok := range []string{old, fresh} {
		if _, err := s.Open(tok); err != nil {
			t.Errorf("Open after rotation: %v", err)
		}
	}
	delete(keys.keys, "k1") // retired
	if _, err := s.Open(old); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a token of a retired key opened: %v", err)
	}
}

func TestTokenSizeStaysWithinLimitOrIsPackedPolicyTooLarge(t *testing.T) {
	s := NewSealer(newKeys("k1"), func() time.Time { return t0 })
	bigPolicy := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"Version":"2012-10-17","Statement":[`)
		for i := 0; b.Len() < n-120; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"Sid":"S%d","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket-%d/*"}`, i, i)
		}
		b.WriteString("]}")
		return b.String()
	}
	randomText := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.RawStdEncoding.EncodeToString(b)[:n]
	}
	var maxTags []Tag
	for i := 0; i < 50; i++ {
		maxTags = append(maxTags, Tag{Key: randomText(128), Value: randomText(256)})
	}
	tests := []struct {
		name     string
		policy   string
		tags     []Tag
		tooLarge bool
	}{
		{"a 2048-character session policy fits", bigPolicy(2048), nil, false},
		{"ten ordinary tags and a policy fit", bigPolicy(1500), maxTags[:0:0], false},
		{"fifty tags of maximum random size do not", "", maxTags, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess := sampleSession()
			sess.SessionPolicy, sess.Tags = tt.policy, tt.tags
			tok, err := s.Seal(sess)
			var tl *PackedPolicyTooLargeError
			if tt.tooLarge {
				if !errors.As(err, &tl) || tl.Percent <= 100 {
					t.Fatalf("Seal = %v, want PackedPolicyTooLargeError over 100%%", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(tok) > MaxTokenLen {
				t.Errorf("token is %d bytes, over %d", len(tok), MaxTokenLen)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	keys := newKeys("k1")
	s := NewSealer(keys, func() time.Time { return t0 })
	tok, _ := s.Seal(sampleSession())
	f.Add(tok)
	f.Add("")
	f.Add("AQJrMQ")
	f.Fuzz(func(t *testing.T, token string) {
		sess, err := s.Open(token)
		if err == nil && sess == nil {
			t.Fatal("nil session without error")
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	s := NewSealer(newKeys("k1"), func() time.Time { return t0 })
	plain, _, _ := s.encode(sampleSession())
	f.Add(plain)
	f.Fuzz(func(t *testing.T, p []byte) {
		_, _ = s.decode(p) // must not panic or allocate without bound
	})
}

func BenchmarkSeal(b *testing.B) {
	s := NewSealer(newKeys("k1"), func() time.Time { return t0 })
	sess := sampleSession()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(sess); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealWithoutSessionPolicy(b *testing.B) {
	s := NewSealer(newKeys("k1"), func() time.Time { return t0 })
	sess := sampleSession()
	sess.SessionPolicy, sess.Tags, sess.TransitiveTagKeys = "", nil, nil
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(sess); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := NewSealer(newKeys("k1"), func() time.Time { return t0 })
	tok, _ := s.Seal(sampleSession())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(tok); err != nil {
			b.Fatal(err)
		}
	}
}
