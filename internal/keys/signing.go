package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyless-dev/keyless/internal/store"
)

// Signing algorithms.
const (
	RS256 = "RS256" // RSA-2048 PKCS#1 v1.5 with SHA-256, CircleCI's choice and the default
	ES256 = "ES256" // ECDSA P-256 with SHA-256
)

// DefaultMaxTokenLifetime bounds the lifetime of tokens signed by a SigningRing whose
// Options.MaxLifetime is zero.
const DefaultMaxTokenLifetime = 24 * time.Hour

// SigningRing holds the CI token issuer's JWS signing keys.
type SigningRing struct {
	*ring
	lookupMu   sync.Mutex
	lastLookup time.Time // last reload caused by an unknown kid (rate limit)
}

// NewSigningRing loads the signing keys from opts.Store, creating the first key if there is
// none (race-free across nodes), and rotating at once if the active key is due or of another
// algorithm. Algorithm defaults to RS256 and MaxLifetime to DefaultMaxTokenLifetime.
func NewSigningRing(ctx context.Context, opts Options) (*SigningRing, error) {
	if opts.Algorithm == "" {
		opts.Algorithm = RS256
	}
	if opts.MaxLifetime == 0 {
		opts.MaxLifetime = DefaultMaxTokenLifetime
	}
	r, err := newRing(ctx, opts, signingCodec{})
	if err != nil {
		return nil, err
	}
	return &SigningRing{ring: r}, nil
}

type signingKey struct {
	alg    string
	signer jose.Signer
	public jose.JSONWebKey
}

type signingCodec struct{}

func (signingCodec) purpose() store.KeyPurpose { return store.PurposeSigning }

func (signingCodec) validAlgorithm(alg string) bool { return alg == RS256 || alg == ES256 }

func (signingCodec) generate(alg string) (string, []byte, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return "", nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", nil, err
	}
	// The kid is the RFC 7638 thumbprint of the public key: unique and stable.
	tp, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", nil, err
	}
	return base64.RawURLEncoding.EncodeToString(tp), der, nil
}

func (signingCodec) decode(meta store.Key, plain []byte) (any, error) {
	priv, err := x509.ParsePKCS8PrivateKey(plain)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	var alg jose.SignatureAlgorithm
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if meta.Algorithm != RS256 || p.N.BitLen() < 2048 {
			return nil, fmt.Errorf("an RSA-%d key cannot be used for %s", p.N.BitLen(), meta.Algorithm)
		}
		alg = jose.RS256
	case *ecdsa.PrivateKey:
		if meta.Algorithm != ES256 || p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an ECDSA %s key cannot be used for %s", p.Curve.Params().Name, meta.Algorithm)
		}
		alg = jose.ES256
	default:
		return nil, fmt.Errorf("unsupported private key type %T", priv)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: meta.ID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	pub := priv.(crypto.Signer).Public()
	return &signingKey{
		alg:    meta.Algorithm,
		signer: signer,
		public: jose.JSONWebKey{Key: pub, KeyID: meta.ID, Algorithm: meta.Algorithm, Use: "sig"},
	}, nil
}

// Sign signs payload (the JSON claims) with the current key and returns the compact JWS
// and the key's id. The header is {"alg", "kid", "typ": "JWT"}.
func (r *SigningRing) Sign(payload []byte) (token, kid string, err error) {
	cur := r.snap.Load().current()
	if cur == nil {
		return "", "", fmt.Errorf("keys: sign: %w: no active signing key", ErrUnknownKey)
	}
	k := cur.value.(*signingKey)
	obj, err := k.signer.Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("keys: sign: %w", err)
	}
	token, err = obj.CompactSerialize()
	if err != nil {
		return "", "", fmt.Errorf("keys: sign: %w", err)
	}
	return token, cur.meta.ID, nil
}

// JWKS returns the published public keys (active keys, and retiring keys until their
// grace ends), newest first. Private parts are never included.
func (r *SigningRing) JWKS() jose.JSONWebKeySet {
	now := r.opts.Now()
	es := r.snap.Load().entries
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for i := len(es) - 1; i >= 0; i-- {
		if live(es[i], now) {
			set.Keys = append(set.Keys, es[i].value.(*signingKey).public)
		}
	}
	return set
}

// Algorithms lists the algorithms of the published keys, sorted.
func (r *SigningRing) Algorithms() []string {
	var algs []string
	for _, k := range r.JWKS().Keys {
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	slices.Sort(algs)
	return algs
}

// PublicKey returns the published public key with this kid and its algorithm, so that
// keyless's own STS can verify its issuer's tokens without HTTP. An unknown kid triggers a
// reload from the store (at most once a second), since another node may have rotated.
func (r *SigningRing) PublicKey(ctx context.Context, kid string) (crypto.PublicKey, string, error) {
	if pub, alg, ok := r.publicKey(kid); ok {
		return pub, alg, nil
	}
	r.lookupMu.Lock()
	now := r.opts.Now()
	due := now.Sub(r.lastLookup) >= time.Second || now.Before(r.lastLookup)
	if due {
		r.lastLookup = now
	}
	r.lookupMu.Unlock()
	if due {
		if err := r.Reload(ctx); err != nil {
			return nil, "", err
		}
		if pub, alg, ok := r.publicKey(kid); ok {
			return pub, alg, nil
		}
	}
	return nil, "", fmt.Errorf("%w %q", ErrUnknownKey, kid)
}

func (r *SigningRing) publicKey(kid string) (crypto.PublicKey, string, bool) {
	now := r.opts.Now()
	for _, e := range r.snap.Load().entries {
		if e.meta.ID == kid && live(e, now) {
			k := e.value.(*signingKey)
			return k.public.Key, k.alg, true
		}
	}
	return nil, "", false
}
