package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
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

// signingKey is a decoded signing key, ready to sign: the protected header is encoded once
// per key, so that signing costs one digest, one signature and the base64 around them.
type signingKey struct {
	alg    string
	header []byte // base64url of {"alg":...,"kid":...,"typ":"JWT"}
	priv   crypto.Signer
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
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if meta.Algorithm != RS256 || p.N.BitLen() < 2048 {
			return nil, fmt.Errorf("an RSA-%d key cannot be used for %s", p.N.BitLen(), meta.Algorithm)
		}
	case *ecdsa.PrivateKey:
		if meta.Algorithm != ES256 || p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an ECDSA %s key cannot be used for %s", p.Curve.Params().Name, meta.Algorithm)
		}
	default:
		return nil, fmt.Errorf("unsupported private key type %T", priv)
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{meta.Algorithm, meta.ID, "JWT"})
	if err != nil {
		return nil, err
	}
	signer := priv.(crypto.Signer)
	k := &signingKey{
		alg:    meta.Algorithm,
		header: base64.RawURLEncoding.AppendEncode(nil, header),
		priv:   signer,
		public: jose.JSONWebKey{Key: signer.Public(), KeyID: meta.ID, Algorithm: meta.Algorithm, Use: "sig"},
	}
	if err := k.selfCheck(); err != nil {
		return nil, err
	}
	return k, nil
}

// selfCheck signs a probe and verifies it with go-jose, restricted to the key's algorithm:
// the hand-assembled JWS must be what a standard verifier accepts.
func (k *signingKey) selfCheck() error {
	token, err := k.sign([]byte(`{"probe":true}`))
	if err != nil {
		return err
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.alg)})
	if err != nil {
		return fmt.Errorf("self-check: %w", err)
	}
	if _, err := jws.Verify(k.public.Key); err != nil {
		return fmt.Errorf("self-check: %w", err)
	}
	return nil
}

// sign returns the compact JWS of payload.
func (k *signingKey) sign(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(k.header)+2+enc.EncodedLen(len(payload))+enc.EncodedLen(256))
	buf = append(buf, k.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	var sig []byte
	var err error
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		var der []byte
		if der, err = ecdsa.SignASN1(rand.Reader, p, digest[:]); err == nil {
			sig, err = rawECDSA(der, 32)
		}
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(nil, p, crypto.SHA256, digest[:])
	}
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// rawECDSA converts an ASN.1 DER ECDSA signature, SEQUENCE { INTEGER r, INTEGER s }, to the
// JWS form r || s, each left-padded to size bytes (RFC 7518 section 3.4).
func rawECDSA(der []byte, size int) ([]byte, error) {
	bad := errors.New("malformed ECDSA signature")
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 || der[1] >= 0x80 {
		return nil, bad
	}
	out := make([]byte, 2*size)
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 {
			return nil, bad
		}
		n := int(rest[1])
		v := rest[2 : 2+n]
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > size {
			return nil, bad
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
		rest = rest[2+n:]
	}
	if len(rest) != 0 {
		return nil, bad
	}
	return out, nil
}

// Sign signs payload (the JSON claims) with the current key and returns the compact JWS
// and the key's id. The header is {"alg", "kid", "typ": "JWT"}.
func (r *SigningRing) Sign(payload []byte) (token, kid string, err error) {
	cur := r.inUse()
	if cur == nil {
		return "", "", fmt.Errorf("keys: sign: %w: no active signing key", ErrUnknownKey)
	}
	token, err = cur.value.(*signingKey).sign(payload)
	if err != nil {
		return "", "", err
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
