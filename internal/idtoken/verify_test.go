package idtoken_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/oidctest"
)

const clientID = "f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// clock is a settable fake clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// newVerifier trusts p (with clientID) over its own client.
func newVerifier(t *testing.T, p *oidctest.Provider, now func() time.Time, mod ...func(*idtoken.Options)) *idtoken.Verifier {
	t.Helper()
	opts := idtoken.Options{
		Providers:  []idtoken.Provider{{URL: p.URL(), ClientIDs: []string{clientID}}},
		HTTPClient: p.Client(),
		Now:        now,
	}
	for _, m := range mod {
		m(&opts)
	}
	v, err := idtoken.New(opts)
	if err != nil {
		t.Fatalf("idtoken.New: %v", err)
	}
	return v
}

// with returns a copy of claims with the given changes; a nil value deletes.
func with(claims map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func rsaPublicPEM(t *testing.T, p *oidctest.Provider) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(p.PublicKey("RS256"))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestVerifyChecksEachRule(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS())
	attacker := oidctest.New(t)
	v := newVerifier(t, p, func() time.Time { return t0 })
	good := p.Claims(t0, clientID, "org/x/project/y/user/z")
	rsaKid := p.KeyID("RS256")
	evilRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	evilEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	evilJWK := jose.JSONWebKey{Key: evilRSA.Public(), KeyID: rsaKid, Use: "sig"}
	tamper := func(tok string) string {
		parts := strings.Split(tok, ".")
		payload := with(good, "sub", "org/x/project/admin/user/z")
		parts[1] = strings.Split(p.Sign(payload), ".")[1]
		return strings.Join(parts, ".")
	}

	tests := []struct {
		name      string
		token     string
		wantKind  idtoken.Kind
		wantClaim string
	}{
		{name: "a valid RS256 token is accepted", token: p.Sign(good)},
		{name: "a valid RS384 token is accepted", token: p.Sign(good, oidctest.WithAlg("RS384"))},
		{name: "a valid RS512 token is accepted", token: p.Sign(good, oidctest.WithAlg("RS512"))},
		{name: "a valid ES256 token is accepted", token: p.Sign(good, oidctest.WithAlg("ES256"))},
		{name: "a valid ES384 token is accepted", token: p.Sign(good, oidctest.WithAlg("ES384"))},
		{name: "a valid ES512 token is accepted", token: p.Sign(good, oidctest.WithAlg("ES512"))},
		{name: "a token with a trailing newline is accepted", token: p.Sign(good) + "\n"},
		{name: "a token expired less than the leeway ago is accepted", token: p.Sign(with(good, "exp", t0.Add(-4*time.Minute).Unix()))},
		{name: "an aud array holding the client id is accepted", token: p.Sign(with(good, "aud", []string{"other", clientID}))},
		{name: "an azp naming the client id is accepted with another aud", token: p.Sign(with(good, "aud", "other", "azp", clientID))},
		{name: "nbf and iat within the leeway in the future are accepted", token: p.Sign(with(good, "nbf", t0.Add(4*time.Minute).Unix(), "iat", t0.Add(4*time.Minute).Unix()))},

		{name: "a wrong aud is an incorrect audience", token: p.Sign(with(good, "aud", "someone-else")), wantKind: idtoken.KindIncorrectAudience},
		{name: "an aud array without the client id is an incorrect audience", token: p.Sign(with(good, "aud", []string{"a", "b"})), wantKind: idtoken.KindIncorrectAudience},
		{name: "a missing aud is a missing claim", token: p.Sign(with(good, "aud", nil)), wantKind: idtoken.KindMissingClaim, wantClaim: "aud"},
		{name: "a missing aud is a missing claim even with a good azp", token: p.Sign(with(good, "aud", nil, "azp", clientID)), wantKind: idtoken.KindMissingClaim, wantClaim: "aud"},
		{name: "an empty aud array is a missing claim", token: p.Sign(with(good, "aud", []string{})), wantKind: idtoken.KindMissingClaim, wantClaim: "aud"},
		{name: "an unknown issuer is an unknown provider", token: p.Sign(with(good, "iss", "https://evil.example.com")), wantKind: idtoken.KindUnknownProvider},
		{name: "an issuer differing by a trailing slash is an unknown provider", token: p.Sign(with(good, "iss", p.URL()+"/")), wantKind: idtoken.KindUnknownProvider},
		{name: "a missing iss is a missing claim", token: p.Sign(with(good, "iss", nil)), wantKind: idtoken.KindMissingClaim, wantClaim: "iss"},
		{name: "an expired token is expired", token: p.Sign(with(good, "exp", t0.Add(-6*time.Minute).Unix())), wantKind: idtoken.KindExpired},
		{name: "a missing exp is a missing claim", token: p.Sign(with(good, "exp", nil)), wantKind: idtoken.KindMissingClaim, wantClaim: "exp"},
		{name: "a fractional exp is malformed", token: p.Sign(with(good, "exp", 1.5e9+0.5)), wantKind: idtoken.KindMalformed},
		{name: "a string exp is malformed", token: p.Sign(with(good, "exp", "tomorrow")), wantKind: idtoken.KindMalformed},
		{name: "a future nbf is not yet valid", token: p.Sign(with(good, "nbf", t0.Add(6*time.Minute).Unix())), wantKind: idtoken.KindNotYetValid},
		{name: "a future iat is not yet valid", token: p.Sign(with(good, "iat", t0.Add(6*time.Minute).Unix())), wantKind: idtoken.KindNotYetValid},
		{name: "a missing sub is a missing claim", token: p.Sign(with(good, "sub", nil)), wantKind: idtoken.KindMissingClaim, wantClaim: "sub"},
		{name: "an empty sub is a missing claim", token: p.Sign(with(good, "sub", "")), wantKind: idtoken.KindMissingClaim, wantClaim: "sub"},
		{name: "alg none is a bad algorithm", token: p.Sign(good, oidctest.WithAlg("none"), oidctest.WithKeyID(rsaKid)), wantKind: idtoken.KindBadAlgorithm},
		{name: "HS256 keyed with the RSA public key is a bad algorithm", token: p.Sign(good, oidctest.WithAlg("HS256"), oidctest.WithKeyID(rsaKid), oidctest.WithHMACSecret(rsaPublicPEM(t, p))), wantKind: idtoken.KindBadAlgorithm},
		{name: "PS256 is a bad algorithm", token: p.Sign(good, oidctest.WithAlg("PS256"), oidctest.WithKey(evilRSA)), wantKind: idtoken.KindBadAlgorithm},
		{name: "ES256 under the kid of an RSA key is a bad algorithm", token: p.Sign(good, oidctest.WithAlg("ES256"), oidctest.WithKey(evilEC), oidctest.WithKeyID(rsaKid)), wantKind: idtoken.KindBadAlgorithm},
		{name: "ES384 under the kid of a P-256 key is a bad algorithm", token: p.Sign(good, oidctest.WithAlg("ES384"), oidctest.WithKeyID(p.KeyID("ES256"))), wantKind: idtoken.KindBadAlgorithm},
		{name: "an unknown kid is a key unavailable", token: p.Sign(good, oidctest.WithKeyID("no-such-kid")), wantKind: idtoken.KindKeyUnavailable},
		{name: "a missing kid is a key unavailable", token: p.Sign(good, oidctest.WithoutKeyID()), wantKind: idtoken.KindKeyUnavailable},
		{name: "a tampered payload is a bad signature", token: tamper(p.Sign(good)), wantKind: idtoken.KindBadSignature},
		{name: "another key under the provider's kid is a bad signature", token: p.Sign(good, oidctest.WithKey(evilRSA), oidctest.WithKeyID(rsaKid)), wantKind: idtoken.KindBadSignature},
		{name: "an embedded jwk is ignored", token: p.Sign(good, oidctest.WithKey(evilRSA), oidctest.WithKeyID(rsaKid), oidctest.WithHeader("jwk", evilJWK)), wantKind: idtoken.KindBadSignature},
		{name: "a jku is ignored", token: p.Sign(good, oidctest.WithAlg("ES256"), oidctest.WithKey(evilEC), oidctest.WithKeyID(p.KeyID("ES256")), oidctest.WithHeader("jku", attacker.URL()+"/.well-known/jwks.json")), wantKind: idtoken.KindBadSignature},
		{name: "an x5u is ignored", token: p.Sign(good, oidctest.WithKey(evilRSA), oidctest.WithKeyID(rsaKid), oidctest.WithHeader("x5u", attacker.URL()+"/cert.pem")), wantKind: idtoken.KindBadSignature},
		{name: "a crit header is malformed", token: p.Sign(good, oidctest.WithHeader("crit", []string{"exp"}), oidctest.WithHeader("exp", 1)), wantKind: idtoken.KindMalformed},
		{name: "a crit b64 header is malformed", token: p.Sign(good, oidctest.WithHeader("crit", []string{"b64"}), oidctest.WithHeader("b64", true)), wantKind: idtoken.KindMalformed},
		{name: "an oversized token is too large", token: p.Sign(with(good, "pad", strings.Repeat("x", idtoken.MaxTokenSize))), wantKind: idtoken.KindTooLarge},
		{name: "claims that are not an object are malformed", token: p.Sign(nil, oidctest.WithRawClaims([]byte(`["iss"]`))), wantKind: idtoken.KindMalformed},
		{name: "claims with trailing data are malformed", token: p.Sign(nil, oidctest.WithRawClaims([]byte(`{"iss":"x"}{}`))), wantKind: idtoken.KindMalformed},
		{name: "two dots only is malformed", token: "..", wantKind: idtoken.KindMalformed},
		{name: "a JSON-serialized JWS is malformed", token: `{"payload":"e30","protected":"eyJhbGciOiJSUzI1NiJ9","signature":"AA"}`, wantKind: idtoken.KindMalformed},
		{name: "a JWE-shaped token is malformed", token: "a.b.c.d.e", wantKind: idtoken.KindMalformed},
		{name: "bad base64 is malformed", token: "!!!.e30.AA", wantKind: idtoken.KindMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(t.Context(), tc.token)
			if got := idtoken.KindOf(err); got != tc.wantKind {
				t.Fatalf("Verify kind = %v (err %v), want %v", got, err, tc.wantKind)
			}
			if tc.wantKind == 0 && (id == nil || id.Audience != clientID) {
				t.Fatalf("Verify identity = %+v, want audience %q", id, clientID)
			}
			var e *idtoken.Error
			if tc.wantClaim != "" && (!asError(err, &e) || e.Claim != tc.wantClaim) {
				t.Fatalf("Verify error = %v, want missing claim %q", err, tc.wantClaim)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(tc.token)) && len(tc.token) > 20 {
				t.Fatalf("error text contains the token")
			}
		})
	}
	t.Cleanup(func() {
		if n := attacker.JWKSFetches() + attacker.DiscoveryFetches(); n != 0 {
			t.Errorf("attacker's server was asked %d times; jku/x5u must never be followed", n)
		}
	})
}

func TestVerifyReturnsTheIdentity(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS(), oidctest.WithPath("/org/"+clientID))
	v := newVerifier(t, p, func() time.Time { return t0 })
	claims := with(p.Claims(t0, clientID, "org/o/project/p/user/u"),
		"jti", "j-1", "nbf", t0.Add(-time.Minute).Unix(), "amr", []string{"pwd", "mfa"},
		"azp", "other", "oidc.circleci.com/vcs-ref", "refs/heads/main")
	id, err := v.Verify(t.Context(), p.Sign(claims, oidctest.WithAlg("ES256")))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	host := strings.TrimPrefix(p.URL(), "https://")
	want := &idtoken.Identity{
		Issuer:        p.URL(),
		Provider:      idtoken.Provider{URL: p.URL(), ClientIDs: []string{clientID}},
		ProviderHost:  host,
		Subject:       "org/o/project/p/user/u",
		Audience:      clientID,
		AudienceClaim: []string{clientID},
		AZP:           "other",
		AMR:           []string{"pwd", "mfa"},
		IssuedAt:      t0,
		NotBefore:     t0.Add(-time.Minute),
		Expiry:        t0.Add(time.Hour),
		KeyID:         p.KeyID("ES256"),
		Algorithm:     "ES256",
		JTI:           "j-1",
	}
	if diff := cmp.Diff(want, id, cmpopts.IgnoreFields(idtoken.Identity{}, "Claims"), cmpopts.IgnoreUnexported(idtoken.Identity{})); diff != "" {
		t.Errorf("identity mismatch (-want +got):\n%s", diff)
	}
	if got := id.Claims["oidc.circleci.com/vcs-ref"]; got != "refs/heads/main" {
		t.Errorf("Claims[vcs-ref] = %v, want refs/heads/main", got)
	}
}

func TestUnknownProviderMessageEchoesTheIssuer(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	v := newVerifier(t, p, func() time.Time { return t0 }, func(o *idtoken.Options) { o.AllowHTTPLoopback = true })
	_, err := v.Verify(t.Context(), p.Sign(with(p.Claims(t0, clientID, "s"), "iss", "https://auth.mozilla.auth0.com/")))
	var e *idtoken.Error
	if !asError(err, &e) {
		t.Fatalf("Verify error = %v, want *idtoken.Error", err)
	}
	want := "No OpenIDConnect provider found in your account for https://auth.mozilla.auth0.com/"
	if got := e.Message(); got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
}

func TestVerifyFetchesKeysOnceAndCachesThem(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS())
	v := newVerifier(t, p, func() time.Time { return t0 })
	tok := p.Sign(p.Claims(t0, clientID, "s"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	wg.Wait()
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := p.JWKSFetches(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1", got)
	}
}

func asError(err error, target **idtoken.Error) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*idtoken.Error)
	if ok {
		*target = e
	}
	return ok
}

var _ = base64.RawURLEncoding
