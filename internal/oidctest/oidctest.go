// Package oidctest is an in-process fake OIDC provider for tests: a real
// HTTP server on 127.0.0.1 (optionally TLS with its own test CA) serving a
// discovery document and a JWKS, and signing tokens with its keys. Tests
// can rotate its keys, take it down, count JWKS fetches and set the
// Cache-Control of the key set.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithms the provider has keys for, one key each (RS256/384/512 share
// one RSA key).
var signingAlgs = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

// Option configures New.
type Option func(*config)

type config struct {
	tls          bool
	path         string
	cacheControl string
	discIssuer   *string
}

// WithTLS serves https with a test CA; Client trusts it.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithPath sets the issuer's path (default "/org/test"); a trailing slash
// is kept, so the issuer URL ends with one.
func WithPath(path string) Option { return func(c *config) { c.path = path } }

// WithCacheControl sets the Cache-Control header of the JWKS response.
func WithCacheControl(v string) Option { return func(c *config) { c.cacheControl = v } }

// WithDiscoveryIssuer makes the discovery document claim another issuer.
func WithDiscoveryIssuer(iss string) Option { return func(c *config) { c.discIssuer = &iss } }

// Provider is a running fake OIDC provider.
type Provider struct {
	t   testing.TB
	srv *httptest.Server
	iss string
	cfg config

	mu          sync.Mutex
	gen         int
	rsaKey      *rsa.PrivateKey
	ecKeys      map[string]*ecdsa.PrivateKey // by alg
	down        bool
	jwksFetches int
	discFetches int
}

// New starts a provider; it stops when the test ends.
func New(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	p := &Provider{t: t, cfg: config{path: "/org/test"}}
	for _, o := range opts {
		o(&p.cfg)
	}
	p.rotate()
	mux := http.NewServeMux()
	base := strings.TrimSuffix(p.cfg.path, "/")
	mux.HandleFunc("GET "+base+"/.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET "+base+"/.well-known/jwks.json", p.serveJWKS)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	})
	if p.cfg.tls {
		p.srv = httptest.NewTLSServer(h)
	} else {
		p.srv = httptest.NewServer(h)
	}
	t.Cleanup(p.srv.Close)
	p.iss = p.srv.URL + p.cfg.path
	return p
}

// URL returns the issuer URL, as tokens carry it in iss.
func (p *Provider) URL() string { return p.iss }

// Client returns an HTTP client that trusts the provider's test CA.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// Close stops the server: later connections are refused.
func (p *Provider) Close() { p.srv.Close() }

// SetDown makes every request answer 503 (true) or work again (false).
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// SetCacheControl sets the Cache-Control header of later JWKS responses.
func (p *Provider) SetCacheControl(v string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.cacheControl = v
}

// JWKSFetches counts JWKS requests served successfully.
func (p *Provider) JWKSFetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksFetches
}

// DiscoveryFetches counts discovery requests served successfully.
func (p *Provider) DiscoveryFetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discFetches
}

// Rotate replaces every key with a new one under a new kid; the old keys
// are no longer published.
func (p *Provider) Rotate() { p.rotate() }

func (p *Provider) rotate() {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		p.t.Fatalf("oidctest: generate rsa key: %v", err)
	}
	ec := map[string]*ecdsa.PrivateKey{}
	for alg, curve := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			p.t.Fatalf("oidctest: generate ec key: %v", err)
		}
		ec[alg] = k
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.rsaKey, p.ecKeys = rk, ec
}

// KeyID returns the kid of the current key for alg.
func (p *Provider) KeyID(alg string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kidLocked(alg)
}

func (p *Provider) kidLocked(alg string) string {
	if strings.HasPrefix(alg, "RS") {
		return fmt.Sprintf("rsa-%d", p.gen)
	}
	return fmt.Sprintf("%s-%d", strings.ToLower(alg), p.gen)
}

// PublicKey returns the current public key for alg (RS* or ES*).
func (p *Provider) PublicKey(alg string) crypto.PublicKey {
	k, _ := p.signer(alg)
	if k == nil {
		return nil
	}
	return k.Public()
}

// signer returns the current private key and kid for alg, nil if none.
func (p *Provider) signer(alg string) (crypto.Signer, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if strings.HasPrefix(alg, "RS") {
		return p.rsaKey, p.kidLocked(alg)
	}
	if k, ok := p.ecKeys[alg]; ok {
		return k, p.kidLocked(alg)
	}
	return nil, ""
}

// Claims returns a valid claim set for the provider: iss, aud, sub, a jti,
// iat now and exp an hour later.
func (p *Provider) Claims(now time.Time, aud, sub string) map[string]any {
	return map[string]any{
		"iss": p.iss,
		"aud": aud,
		"sub": sub,
		"jti": fmt.Sprintf("jti-%d", now.UnixNano()),
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	p.discFetches++
	iss := p.iss
	if p.cfg.discIssuer != nil {
		iss = *p.cfg.discIssuer
	}
	p.mu.Unlock()
	writeJSON(w, map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              strings.TrimSuffix(p.iss, "/") + "/.well-known/jwks.json",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": signingAlgs,
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	p.jwksFetches++
	keys := []jose.JSONWebKey{{Key: p.rsaKey.Public(), KeyID: p.kidLocked("RS256"), Use: "sig"}}
	for _, alg := range []string{"ES256", "ES384", "ES512"} {
		keys = append(keys, jose.JSONWebKey{Key: p.ecKeys[alg].Public(), KeyID: p.kidLocked(alg), Use: "sig", Algorithm: alg})
	}
	cc := p.cfg.cacheControl
	p.mu.Unlock()
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	writeJSON(w, jose.JSONWebKeySet{Keys: keys})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
