package idtoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxTokenSize is the longest token accepted, as STS's WebIdentityToken
// member (AWS-WIRE 1.2).
const MaxTokenSize = 20000

// allowedAlgs is the explicit allowlist: asymmetric RSA PKCS#1 v1.5 and
// ECDSA only, as AWS documents. No none, no HMAC, no PSS.
var allowedAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512,
}

// token is a parsed, not yet verified, compact JWS carrying JWT claims.
type token struct {
	jws    *jose.JSONWebSignature
	alg    string
	kid    string
	claims map[string]any
}

// parseToken parses raw as a compact JWS whose payload is a JSON object.
// Only the header parameters alg and kid are honoured; crit is refused and
// jku, x5u, x5c and jwk are never used to find a key. Nothing is verified.
func parseToken(raw string) (*token, error) {
	if len(raw) > MaxTokenSize {
		return nil, newError(KindTooLarge, fmt.Sprintf("%d bytes", len(raw)), nil)
	}
	if strings.Count(raw, ".") != 2 {
		return nil, newError(KindMalformed, "not a compact JWS", nil)
	}
	jws, err := jose.ParseSignedCompact(raw, allowedAlgs)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) && algErr.Got != "" {
			return nil, newError(KindBadAlgorithm, fmt.Sprintf("algorithm %q not allowed", algErr.Got), nil)
		}
		return nil, newError(KindMalformed, "parse jws", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, newError(KindMalformed, "want exactly one signature", nil)
	}
	h := jws.Signatures[0].Header
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return nil, newError(KindMalformed, "crit header not supported", nil)
	}
	claims, err := decodeClaims(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		return nil, newError(KindMalformed, "decode claims", err)
	}
	return &token{jws: jws, alg: h.Algorithm, kid: h.KeyID, claims: claims}, nil
}

// decodeClaims decodes a JSON object, numbers kept as json.Number.
func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, errors.New("claims are not a json object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after claims")
	}
	return claims, nil
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
