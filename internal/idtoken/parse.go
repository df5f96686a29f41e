package idtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha256" // registers crypto.SHA256
	_ "crypto/sha512" // registers crypto.SHA384, crypto.SHA512
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"
)

// MaxTokenSize is the longest token accepted, as STS's WebIdentityToken
// member (AWS-WIRE 1.2).
const MaxTokenSize = 20000

// allowedAlgs is the explicit allowlist: asymmetric RSA PKCS#1 v1.5 and
// ECDSA only, as AWS documents. No none, no HMAC, no PSS.
var allowedAlgs = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

// token is a parsed, not yet verified, compact JWS carrying JWT claims.
type token struct {
	alg    string
	kid    string
	signed string // the signing input: header "." payload, as received
	sig    []byte
	claims map[string]any
}

// parseToken parses raw as a compact JWS (three base64url parts without
// padding) whose header is a JSON object and whose payload is a JSON
// object. Only the header parameters alg and kid are honoured; crit is
// refused. Nothing is verified.
func parseToken(raw string) (*token, error) {
	if len(raw) > MaxTokenSize {
		return nil, newError(KindTooLarge, fmt.Sprintf("%d bytes", len(raw)), nil)
	}
	h64, rest, ok1 := strings.Cut(raw, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 {
		return nil, newError(KindMalformed, "not a compact JWS", nil)
	}
	alg, kid, err := parseHeader(h64)
	if err != nil {
		return nil, err
	}
	payload, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return nil, newError(KindMalformed, "decode payload", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil || len(sig) == 0 {
		return nil, newError(KindMalformed, "decode signature", err)
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, newError(KindMalformed, "decode claims", err)
	}
	return &token{alg: alg, kid: kid, signed: raw[:len(h64)+1+len(p64)], sig: sig, claims: claims}, nil
}

// parseHeader decodes the JOSE header (a JSON object; parameter names are case
// sensitive) and returns alg, which must be a string on the allowlist, and kid, a
// string when present. A crit parameter makes the token unacceptable: we understand no
// extension. jku, x5u, x5c and jwk are never used to find a key, so they are not read.
func parseHeader(h64 string) (alg, kid string, err error) {
	h, err := decodeSegment(h64)
	if err != nil {
		return "", "", newError(KindMalformed, "decode header", err)
	}
	alg, ok := h["alg"].(string)
	if !ok || alg == "" {
		return "", "", newError(KindMalformed, "header has no alg string", nil)
	}
	if !slices.Contains(allowedAlgs, alg) {
		return "", "", newError(KindBadAlgorithm, fmt.Sprintf("algorithm %q not allowed", alg), nil)
	}
	if _, ok := h["crit"]; ok {
		return "", "", newError(KindMalformed, "crit header not supported", nil)
	}
	if v, ok := h["kid"]; ok && v != nil {
		if kid, ok = v.(string); !ok {
			return "", "", newError(KindMalformed, "kid is not a string", nil)
		}
	}
	return alg, kid, nil
}

// decodeSegment decodes one base64url segment holding a JSON object.
func decodeSegment(seg string) (map[string]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, err
	}
	return decodeClaims(b)
}

// verifySignature checks tok's signature with key, which fits tok.alg.
func (tok *token) verifySignature(key crypto.PublicKey) bool {
	var hash crypto.Hash
	switch tok.alg {
	case "RS256", "ES256":
		hash = crypto.SHA256
	case "RS384", "ES384":
		hash = crypto.SHA384
	case "RS512", "ES512":
		hash = crypto.SHA512
	default:
		return false
	}
	h := hash.New()
	_, _ = io.WriteString(h, tok.signed)
	digest := h.Sum(nil)
	switch k := key.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, hash, digest, tok.sig) == nil
	case *ecdsa.PublicKey:
		// JWS ECDSA signatures are R || S, each the curve's byte size (RFC 7518 3.4).
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(tok.sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(tok.sig[:size])
		s := new(big.Int).SetBytes(tok.sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}

// stringClaim returns claim name as a string; absent is ("", false, nil).
func stringClaim(claims map[string]any, name string) (string, bool, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, newError(KindMalformed, "claim "+name+" is not a string", nil)
	}
	return s, true, nil
}

// stringsClaim returns a claim that is a string or an array of strings.
func stringsClaim(claims map[string]any, name string) ([]string, bool, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return nil, false, nil
	}
	switch v := v.(type) {
	case string:
		return []string{v}, true, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false, newError(KindMalformed, "claim "+name+" has a non-string element", nil)
			}
			out = append(out, s)
		}
		return out, true, nil
	default:
		return nil, false, newError(KindMalformed, "claim "+name+" is not a string or array", nil)
	}
}

// timeClaim returns a NumericDate claim. AWS requires integers; so do we.
func timeClaim(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false, newError(KindMalformed, "claim "+name+" is not a number", nil)
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > math.MaxInt64/int64(time.Second) {
		return time.Time{}, false, newError(KindMalformed, "claim "+name+" is not an integer date", nil)
	}
	return time.Unix(i, 0).UTC(), true, nil
}
