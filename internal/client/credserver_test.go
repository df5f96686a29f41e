package client

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/google/go-cmp/cmp"
)

// fakeRole hands out numbered credentials valid for ttl from the fake clock, or fails.
type fakeRole struct {
	mu    sync.Mutex
	now   time.Time
	ttl   time.Duration
	calls int
	fail  bool
}

func (r *fakeRole) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *fakeRole) advance(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = r.now.Add(d)
}

func (r *fakeRole) assume(context.Context) (Credentials, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail {
		return Credentials{}, errors.New("assume arn:x: IDPCommunicationError: down\n  check: something")
	}
	return r.credsLocked(), nil
}

func (r *fakeRole) credsLocked() Credentials {
	return Credentials{AccessKeyID: "ASIA" + strings.Repeat("0", 15) + string(rune('0'+r.calls)), SecretAccessKey: "secret-" + string(rune('0'+r.calls)),
		SessionToken: "token", Expiration: r.now.Add(r.ttl)}
}

func newRole(ttl time.Duration) (*fakeRole, Credentials) {
	r := &fakeRole{now: testNow, ttl: ttl}
	return r, r.credsLocked()
}

// retrieve asks srv for credentials with aws-sdk-go-v2's container credential provider.
func retrieve(t *testing.T, url, auth string) (aws.Credentials, error) {
	t.Helper()
	p := endpointcreds.New(url, func(o *endpointcreds.Options) {
		o.AuthorizationToken = auth
		o.Retryer = aws.NopRetryer{}
	})
	return p.Retrieve(t.Context())
}

func TestTheSDKsContainerProviderReadsTheServedCredentials(t *testing.T) {
	t.Parallel()
	role, initial := newRole(time.Hour)
	s := NewCredentialServer(role.assume, initial, role.clock, nil)
	vars, stop, err := s.Serve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if vars[0].Name != "AWS_CONTAINER_CREDENTIALS_FULL_URI" || !strings.HasPrefix(vars[0].Value, "http://127.0.0.1:") ||
		vars[1] != (Var{"AWS_CONTAINER_AUTHORIZATION_TOKEN", s.AuthorizationToken()}) {
		t.Fatalf("vars = %v", vars)
	}
	got, err := retrieve(t, vars[0].Value, s.AuthorizationToken())
	if err != nil {
		t.Fatal(err)
	}
	want := aws.Credentials{AccessKeyID: initial.AccessKeyID, SecretAccessKey: initial.SecretAccessKey, SessionToken: "token",
		Source: endpointcreds.ProviderName, CanExpire: true, Expires: initial.Expiration}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	if _, err := retrieve(t, vars[0].Value, "wrong"); err == nil {
		t.Error("a wrong authorization token got credentials")
	}
}

func TestCredentialsAreRenewedBeforeTheyExpire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		ttl       time.Duration
		after     time.Duration
		wantCalls int
	}{
		{"hour-long credentials are served as they are at 30 minutes", time.Hour, 30 * time.Minute, 0},
		{"hour-long credentials are renewed 20 minutes before expiry", time.Hour, 41 * time.Minute, 1},
		{"15-minute credentials are kept for 10 minutes", 15 * time.Minute, 9 * time.Minute, 0},
		{"15-minute credentials are renewed in their last third", 15 * time.Minute, 11 * time.Minute, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			role, initial := newRole(tt.ttl)
			s := NewCredentialServer(role.assume, initial, role.clock, nil)
			role.advance(tt.after)
			got, err := s.Current(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if role.calls != tt.wantCalls {
				t.Errorf("assumed %d times, want %d", role.calls, tt.wantCalls)
			}
			if renewed := got.AccessKeyID != initial.AccessKeyID; renewed != (tt.wantCalls > 0) {
				t.Errorf("served %s; renewed = %v, want %v", got.AccessKeyID, renewed, tt.wantCalls > 0)
			}
			// A second request right after is served from the cache.
			if _, err := s.Current(t.Context()); err != nil || role.calls != tt.wantCalls {
				t.Errorf("second request: %v, %d calls", err, role.calls)
			}
		})
	}
}

func TestAFailedRenewalServesTheOldCredentialsWhileTheyLast(t *testing.T) {
	t.Parallel()
	role, initial := newRole(time.Hour)
	var log bytes.Buffer
	s := NewCredentialServer(role.assume, initial, role.clock, &log)
	role.fail = true
	role.advance(50 * time.Minute)
	got, err := s.Current(t.Context())
	if err != nil || got != initial {
		t.Errorf("Current = %v, %v; want the initial credentials", got, err)
	}
	if !strings.Contains(log.String(), "renewing credentials failed: assume arn:x: IDPCommunicationError: down\n") {
		t.Errorf("log = %q, want the first line of the failure", log.String())
	}
	if strings.Contains(log.String(), initial.SecretAccessKey) {
		t.Errorf("log has the secret: %q", log.String())
	}

	role.advance(10 * time.Minute)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/credentials", nil)
	req.Header.Set("Authorization", s.AuthorizationToken())
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("expired and not renewed: %d %s, want 502 without credentials", rec.Code, rec.Body)
	}
}
