package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// SignOption changes how Sign builds a token.
type SignOption func(*signConfig)

type signConfig struct {
	alg       string
	kid       *string
	key       crypto.Signer
	secret    []byte
	header    map[string]any
	rawClaims []byte
}

// WithAlg signs with alg: RS256..RS512 and ES256..ES512 with the
// provider's key, "none" with no signature, HS256..HS512 with the
// WithHMACSecret secret. Default RS256.
func WithAlg(alg string) SignOption { return func(c *signConfig) { c.alg = alg } }

// WithHMACSecret is the secret for the HS* algorithms.
func WithHMACSecret(secret []byte) SignOption {
	return func(c *signConfig) { c.secret = secret }
}

// WithKeyID sets the kid header (default: the provider's kid for alg).
func WithKeyID(kid string) SignOption { return func(c *signConfig) { c.kid = &kid } }

// WithoutKeyID leaves the kid header out.
func WithoutKeyID() SignOption {
	return func(c *signConfig) { empty := ""; c.kid = &empty }
}

// WithKey signs with key (an *rsa.PrivateKey or *ecdsa.PrivateKey) instead
// of the provider's; combine with WithAlg and WithKeyID.
func WithKey(key crypto.Signer) SignOption { return func(c *signConfig) { c.key = key } }

// WithHeader adds a header parameter (crit, jku, x5u, jwk, ...).
func WithHeader(name string, value any) SignOption {
	return func(c *signConfig) {
		if c.header == nil {
			c.header = map[string]any{}
		}
		c.header[name] = value
	}
}

// WithRawClaims uses payload verbatim as the claims (the claims map given
// to Sign is ignored), for malformed-claims tests.
func WithRawClaims(payload []byte) SignOption {
	return func(c *signConfig) { c.rawClaims = payload }
}

// Sign returns a compact JWS of claims. It fails the test on error.
func (p *Provider) Sign(claims map[string]any, opts ...SignOption) string {
	p.t.Helper()
	c := signConfig{alg: "RS256"}
	for _, o := range opts {
		o(&c)
	}
	key, kid := c.key, ""
	if key == nil {
		key, kid = p.signer(c.alg)
	}
	if c.kid != nil {
		kid = *c.kid
	}
	header := map[string]any{"alg": c.alg, "typ": "JWT"}
	if kid != "" {
		header["kid"] = kid
	}
	for k, v := range c.header {
		header[k] = v
	}
	hb, err := json.Marshal(header)
	if err != nil {
		p.t.Fatalf("oidctest: marshal header: %v", err)
	}
	payload := c.rawClaims
	if payload == nil {
		if payload, err = json.Marshal(claims); err != nil {
			p.t.Fatalf("oidctest: marshal claims: %v", err)
		}
	}
	input := b64(hb) + "." + b64(payload)
	sig, err := sign(c.alg, key, c.secret, []byte(input))
	if err != nil {
		p.t.Fatalf("oidctest: sign %s: %v", c.alg, err)
	}
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

var hashes = map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}

func sign(alg string, key crypto.Signer, secret, input []byte) ([]byte, error) {
	if alg == "none" {
		return nil, nil
	}
	h, ok := hashes[alg[len(alg)-3:]]
	if !ok || len(alg) != 5 {
		return nil, errUnsupported(alg)
	}
	if strings.HasPrefix(alg, "HS") {
		m := hmac.New(h.New, secret)
		m.Write(input)
		return m.Sum(nil), nil
	}
	d := h.New()
	d.Write(input)
	digest := d.Sum(nil)
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(rand.Reader, k, h, digest)
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			return nil, err
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out, nil
	}
	return nil, errUnsupported(alg)
}

type errUnsupported string

func (e errUnsupported) Error() string { return "unsupported algorithm or key for " + string(e) }
