package idtoken_test

import (
	"context"
	"crypto"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/oidctest"
)

// longLived returns claims valid for a day from t0, so that only the key
// cache decides the outcome as the fake clock moves.
func longLived(p *oidctest.Provider) map[string]any {
	return with(p.Claims(t0, clientID, "s"), "exp", t0.Add(24*time.Hour).Unix())
}

func verifyKind(t *testing.T, v *idtoken.Verifier, tok string) idtoken.Kind {
	t.Helper()
	_, err := v.Verify(t.Context(), tok)
	return idtoken.KindOf(err)
}

func TestProviderDownUsesCachedKeysForABoundedWindow(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS(), oidctest.WithCacheControl("max-age=600"))
	clk := newClock(t0)
	v := newVerifier(t, p, clk.Now, func(o *idtoken.Options) {
		o.StaleFor = time.Hour
		o.RefreshMinInterval = 10 * time.Second
	})
	tok := p.Sign(longLived(p))

	steps := []struct {
		name        string
		advance     time.Duration
		down        bool
		wantKind    idtoken.Kind
		wantFetches int
	}{
		{name: "the first verification fetches the keys", wantFetches: 1},
		{name: "within max-age the cache answers", advance: 9 * time.Minute, wantFetches: 1},
		{name: "past max-age with the provider down the stale keys still work", advance: 2 * time.Minute, down: true, wantFetches: 1},
		{name: "near the end of the stale window the keys still work", advance: 58 * time.Minute, down: true, wantFetches: 1},
		{name: "past the stale window the provider is unreachable", advance: 2 * time.Minute, down: true, wantKind: idtoken.KindProviderUnreachable, wantFetches: 1},
		{name: "within the refresh interval the failure is answered without a fetch", advance: time.Second, down: true, wantKind: idtoken.KindProviderUnreachable, wantFetches: 1},
		{name: "once the provider is back the keys are fetched again", advance: 10 * time.Second, wantFetches: 2},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		p.SetDown(s.down)
		if got := verifyKind(t, v, tok); got != s.wantKind {
			t.Fatalf("%s: kind = %v, want %v", s.name, got, s.wantKind)
		}
		if got := p.JWKSFetches(); got != s.wantFetches {
			t.Fatalf("%s: JWKS fetches = %d, want %d", s.name, got, s.wantFetches)
		}
	}
}

func TestProviderUnreachableErrorIsRetriable(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS())
	v := newVerifier(t, p, func() time.Time { return t0 })
	tok := p.Sign(longLived(p))
	p.Close() // connections are now refused
	_, err := v.Verify(t.Context(), tok)
	var e *idtoken.Error
	if !errors.As(err, &e) || e.Kind != idtoken.KindProviderUnreachable || !e.Retriable() {
		t.Fatalf("Verify error = %v, want a retriable provider unreachable", err)
	}
	if e.Issuer != p.URL() {
		t.Errorf("Issuer = %q, want %q", e.Issuer, p.URL())
	}
}

func TestRotationIsPickedUpOnUnknownKid(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS())
	clk := newClock(t0)
	v := newVerifier(t, p, clk.Now, func(o *idtoken.Options) { o.RefreshMinInterval = 30 * time.Second })
	if got := verifyKind(t, v, p.Sign(longLived(p))); got != 0 {
		t.Fatalf("before rotation: kind = %v, want success", got)
	}
	clk.Advance(time.Minute)
	p.Rotate()
	rotated := p.Sign(longLived(p))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), rotated); err != nil {
				t.Errorf("after rotation: %v", err)
			}
		})
	}
	wg.Wait()
	if got := p.JWKSFetches(); got != 2 {
		t.Fatalf("JWKS fetches after rotation = %d, want 2", got)
	}
	bogus := p.Sign(longLived(p), oidctest.WithKeyID("bogus"))
	if got := verifyKind(t, v, bogus); got != idtoken.KindKeyUnavailable {
		t.Fatalf("unknown kid: kind = %v, want key unavailable", got)
	}
	if got := p.JWKSFetches(); got != 2 {
		t.Errorf("an unknown kid right after a refresh fetched again: %d fetches, want 2", got)
	}
	clk.Advance(31 * time.Second)
	if got := verifyKind(t, v, bogus); got != idtoken.KindKeyUnavailable {
		t.Fatalf("unknown kid later: kind = %v, want key unavailable", got)
	}
	if got := p.JWKSFetches(); got != 3 {
		t.Errorf("an unknown kid after the interval: %d fetches, want 3", got)
	}
}

func TestCacheControlSetsTheKeyLifetime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cacheControl string
		still, next  time.Duration // still cached at t0+still, refetched at t0+next
	}{
		{name: "max-age is honoured", cacheControl: "public, max-age=300", still: 299 * time.Second, next: 301 * time.Second},
		{name: "a tiny max-age is raised to a minute", cacheControl: "max-age=5", still: 59 * time.Second, next: 61 * time.Second},
		{name: "no-cache is a minute", cacheControl: "no-cache", still: 59 * time.Second, next: 61 * time.Second},
		{name: "a huge max-age is capped at a day", cacheControl: "max-age=9999999", still: 23 * time.Hour, next: 24*time.Hour + time.Second},
		{name: "no header is an hour", still: 59 * time.Minute, next: 61 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := oidctest.New(t, oidctest.WithTLS(), oidctest.WithCacheControl(tc.cacheControl))
			clk := newClock(t0)
			v := newVerifier(t, p, clk.Now)
			claims := with(p.Claims(t0, clientID, "s"), "exp", t0.Add(48*time.Hour).Unix())
			tok := p.Sign(claims)
			for _, step := range []struct {
				at   time.Duration
				want int
			}{{0, 1}, {tc.still, 1}, {tc.next, 2}} {
				clk.Advance(t0.Add(step.at).Sub(clk.Now()))
				if got := verifyKind(t, v, tok); got != 0 {
					t.Fatalf("at +%v: kind = %v", step.at, got)
				}
				if got := p.JWKSFetches(); got != step.want {
					t.Fatalf("at +%v: JWKS fetches = %d, want %d", step.at, got, step.want)
				}
			}
		})
	}
}

func TestDiscoveryIssuerMustMatchTheProvider(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS(), oidctest.WithDiscoveryIssuer("https://elsewhere.example.com"))
	v := newVerifier(t, p, func() time.Time { return t0 })
	if got := verifyKind(t, v, p.Sign(longLived(p))); got != idtoken.KindKeyUnavailable {
		t.Errorf("kind = %v, want key unavailable", got)
	}
}

func TestPlainHTTPProvidersNeedDevAndLoopback(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	if _, err := idtoken.New(idtoken.Options{Providers: []idtoken.Provider{{URL: p.URL(), ClientIDs: []string{clientID}}}}); err == nil {
		t.Fatal("New accepted an http provider without AllowHTTPLoopback")
	}
	v := newVerifier(t, p, func() time.Time { return t0 }, func(o *idtoken.Options) {
		o.AllowHTTPLoopback = true
		o.HTTPClient = nil // the hardened default client
	})
	if got := verifyKind(t, v, p.Sign(longLived(p))); got != 0 {
		t.Errorf("loopback http provider in dev: kind = %v, want success", got)
	}
}

func TestNewRejectsBadProviders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    []idtoken.Provider
	}{
		{name: "plain http to a public host is refused even in dev", p: []idtoken.Provider{{URL: "http://oidc.example.com", ClientIDs: []string{"a"}}}},
		{name: "a url with a query is refused", p: []idtoken.Provider{{URL: "https://oidc.example.com/?x=1", ClientIDs: []string{"a"}}}},
		{name: "a url without host is refused", p: []idtoken.Provider{{URL: "https:///path", ClientIDs: []string{"a"}}}},
		{name: "a provider without client ids is refused", p: []idtoken.Provider{{URL: "https://oidc.example.com"}}},
		{name: "a provider listed twice is refused", p: []idtoken.Provider{{URL: "https://a.example.com", ClientIDs: []string{"a"}}, {URL: "https://a.example.com", ClientIDs: []string{"b"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := idtoken.New(idtoken.Options{Providers: tc.p, AllowHTTPLoopback: true}); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}

// localKeys serves one provider's keys in-process, as the issuer does.
type localKeys struct {
	url   string
	p     *oidctest.Provider
	calls atomic.Int32
}

func (l *localKeys) PublicKey(_ context.Context, issuerURL, kid string) (crypto.PublicKey, string, error) {
	l.calls.Add(1)
	if issuerURL != l.url {
		return nil, "", idtoken.ErrNotLocal
	}
	if kid != l.p.KeyID("ES256") {
		return nil, "", errors.New("no such key")
	}
	return l.p.PublicKey("ES256"), "ES256", nil
}

func TestLocalIssuerKeysAreReadWithoutHTTP(t *testing.T) {
	t.Parallel()
	local := oidctest.New(t, oidctest.WithTLS())
	remote := oidctest.New(t, oidctest.WithTLS())
	lk := &localKeys{url: local.URL(), p: local}
	v, err := idtoken.New(idtoken.Options{
		Providers: []idtoken.Provider{
			{URL: local.URL(), ClientIDs: []string{clientID}},
			{URL: remote.URL(), ClientIDs: []string{clientID}},
		},
		HTTPClient: remote.Client(),
		LocalKeys:  lk,
		Now:        func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	local.SetDown(true)
	tests := []struct {
		name  string
		token string
		want  idtoken.Kind
	}{
		{name: "a local issuer's token verifies with the local key", token: local.Sign(longLived(local), oidctest.WithAlg("ES256"))},
		{name: "a local key's algorithm must match the token's", token: local.Sign(longLived(local), oidctest.WithAlg("ES384"), oidctest.WithKeyID(local.KeyID("ES256"))), want: idtoken.KindBadAlgorithm},
		{name: "a kid the local issuer lacks is a key unavailable", token: local.Sign(longLived(local)), want: idtoken.KindKeyUnavailable},
		{name: "a remote provider's token is still fetched over HTTP", token: remote.Sign(longLived(remote))},
	}
	for _, tc := range tests {
		if got := verifyKind(t, v, tc.token); got != tc.want {
			t.Errorf("%s: kind = %v, want %v", tc.name, got, tc.want)
		}
	}
	if n := local.JWKSFetches() + local.DiscoveryFetches(); n != 0 {
		t.Errorf("the local issuer was fetched %d times over HTTP, want 0", n)
	}
	if got := remote.JWKSFetches(); got != 1 {
		t.Errorf("remote JWKS fetches = %d, want 1", got)
	}
}

func TestUnconfiguredLocalIssuerIsNotTrusted(t *testing.T) {
	t.Parallel()
	local := oidctest.New(t, oidctest.WithTLS())
	other := oidctest.New(t, oidctest.WithTLS())
	lk := &localKeys{url: local.URL(), p: local}
	v := newVerifier(t, other, func() time.Time { return t0 }, func(o *idtoken.Options) { o.LocalKeys = lk })
	tok := local.Sign(longLived(local), oidctest.WithAlg("ES256"))
	if got := verifyKind(t, v, tok); got != idtoken.KindUnknownProvider {
		t.Errorf("kind = %v, want unknown provider", got)
	}
	if lk.calls.Load() != 0 {
		t.Errorf("the local key source was asked about an unconfigured issuer")
	}
}

func TestProviderAnsweringNotFoundIsKeyUnavailable(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS())
	// The provider serves nothing under this issuer: discovery is a 404.
	iss := p.URL() + "/missing"
	v, err := idtoken.New(idtoken.Options{
		Providers:  []idtoken.Provider{{URL: iss, ClientIDs: []string{clientID}}},
		HTTPClient: p.Client(),
		Now:        func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := verifyKind(t, v, p.Sign(with(longLived(p), "iss", iss))); got != idtoken.KindKeyUnavailable {
		t.Errorf("kind = %v, want key unavailable", got)
	}
}

func TestCancelledCallerStopsWaitingForARefresh(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS())
	v := newVerifier(t, p, func() time.Time { return t0 })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := v.Verify(ctx, p.Sign(longLived(p)))
	if got := idtoken.KindOf(err); got != idtoken.KindProviderUnreachable || !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context: kind %v, err %v; want provider unreachable wrapping context.Canceled", got, err)
	}
}

func TestAVerifiedTokenIsRememberedButNeverPastItsTimeChecks(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS(), oidctest.WithCacheControl("max-age=86400"))
	clk := newClock(t0)
	v := newVerifier(t, p, clk.Now)
	claims := with(p.Claims(t0, clientID, "s"), "nbf", t0.Unix())
	tok := p.Sign(claims)
	first, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name       string
		at         time.Time
		wantKind   idtoken.Kind
		wantShared bool // answered from the cache: the very same Identity
	}{
		{name: "the same token again is answered from the cache", at: t0.Add(time.Minute), wantShared: true},
		{name: "with trailing whitespace it is the same token", at: t0.Add(2 * time.Minute), wantShared: true},
		{name: "after exp, within the leeway, it is verified again", at: t0.Add(time.Hour + time.Minute)},
		{name: "past exp and the leeway it is expired", at: t0.Add(time.Hour + 6*time.Minute), wantKind: idtoken.KindExpired},
		{name: "before nbf beyond the leeway it is not yet valid", at: t0.Add(-6 * time.Minute), wantKind: idtoken.KindNotYetValid},
	}
	for i, s := range steps {
		clk.Set(s.at)
		raw := tok
		if i == 1 {
			raw += "\n"
		}
		id, err := v.Verify(t.Context(), raw)
		if got := idtoken.KindOf(err); got != s.wantKind {
			t.Fatalf("%s: kind = %v (%v), want %v", s.name, got, err, s.wantKind)
		}
		if err == nil && (id == first) != s.wantShared {
			t.Errorf("%s: answered from the cache = %v, want %v", s.name, id == first, s.wantShared)
		}
	}
}

func TestConditionKeysOfAVerifiedIdentityAreComputedOnce(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS())
	v := newVerifier(t, p, func() time.Time { return t0 })
	id, err := v.Verify(t.Context(), p.Sign(p.Claims(t0, clientID, "s")))
	if err != nil {
		t.Fatal(err)
	}
	for _, awsOnly := range []bool{false, true} {
		a, b := id.ConditionKeys(awsOnly), id.ConditionKeys(awsOnly)
		if reflect.ValueOf(a).UnsafePointer() != reflect.ValueOf(b).UnsafePointer() {
			t.Errorf("awsCompatibleOnly=%v: two calls built two maps", awsOnly)
		}
	}
	if reflect.ValueOf(id.ConditionKeys(false)).UnsafePointer() == reflect.ValueOf(id.ConditionKeys(true)).UnsafePointer() {
		t.Error("both kinds of keys share one map")
	}
}
