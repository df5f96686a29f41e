package oidctest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/oidctest"
)

func getJSON(t *testing.T, c *http.Client, url string, v any) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

func TestProviderServesDiscoveryAndKeysThatVerifyItsTokens(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t, oidctest.WithTLS(), oidctest.WithPath("/org/o1"), oidctest.WithCacheControl("max-age=60"))
	if !strings.HasPrefix(p.URL(), "https://127.0.0.1:") || !strings.HasSuffix(p.URL(), "/org/o1") {
		t.Fatalf("URL() = %q, want https://127.0.0.1:PORT/org/o1", p.URL())
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if code := getJSON(t, p.Client(), p.URL()+"/.well-known/openid-configuration", &disc); code != http.StatusOK {
		t.Fatalf("discovery status %d", code)
	}
	if disc.Issuer != p.URL() {
		t.Errorf("discovery issuer = %q, want %q", disc.Issuer, p.URL())
	}
	var set jose.JSONWebKeySet
	if code := getJSON(t, p.Client(), disc.JWKSURI, &set); code != http.StatusOK {
		t.Fatalf("jwks status %d", code)
	}
	claims := p.Claims(time.Unix(1764417600, 0), "aud", "sub")
	for _, alg := range []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"} {
		tok := p.Sign(claims, oidctest.WithAlg(alg))
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
		if err != nil {
			t.Fatalf("%s: parse: %v", alg, err)
		}
		keys := set.Key(jws.Signatures[0].Header.KeyID)
		if len(keys) != 1 {
			t.Fatalf("%s: %d keys published for kid %q, want 1", alg, len(keys), jws.Signatures[0].Header.KeyID)
		}
		payload, err := jws.Verify(keys[0])
		if err != nil {
			t.Fatalf("%s: verify: %v", alg, err)
		}
		var got map[string]any
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p.URL(), got["iss"]); diff != "" {
			t.Errorf("%s: iss mismatch (-want +got):\n%s", alg, diff)
		}
	}
	if got := p.JWKSFetches(); got != 1 {
		t.Errorf("JWKSFetches() = %d, want 1", got)
	}
}

func TestProviderDownAnswers503AndRotateChangesKids(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	before := p.KeyID("ES256")
	p.SetDown(true)
	var v any
	if code := getJSON(t, p.Client(), p.URL()+"/.well-known/jwks.json", &v); code != http.StatusServiceUnavailable {
		t.Errorf("down: status %d, want 503", code)
	}
	if got := p.JWKSFetches(); got != 0 {
		t.Errorf("JWKSFetches() while down = %d, want 0", got)
	}
	p.SetDown(false)
	p.Rotate()
	if after := p.KeyID("ES256"); after == before {
		t.Errorf("Rotate kept kid %q", before)
	}
}
