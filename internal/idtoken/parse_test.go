package idtoken

import (
	"encoding/base64"
	"slices"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// FuzzParseToken feeds the header/claims parser arbitrary tokens: it must
// never panic, and whatever it accepts has an allowed alg, no crit and an
// object of claims.
func FuzzParseToken(f *testing.F) {
	claims := b64(`{"iss":"https://oidc.circleci.com/org/o","aud":["a","b"],"sub":"s","exp":1764417600,"iat":1.5,"amr":["x"]}`)
	for _, seed := range []string{
		b64(`{"alg":"RS256","kid":"k"}`) + "." + claims + ".c2ln",
		b64(`{"alg":"ES256","kid":"k","jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}`) + "." + claims + ".AA",
		b64(`{"alg":"none"}`) + "." + claims + ".",
		b64(`{"alg":"HS256","kid":"k"}`) + "." + claims + ".AA",
		b64(`{"alg":"RS256","crit":["b64"],"b64":false}`) + "." + claims + ".AA",
		b64(`{"alg":"RS256","x5c":["MIIB"]}`) + "." + claims + ".AA",
		b64(`{"alg":"RS256"}`) + "." + b64(`[]`) + ".AA",
		b64(`{"alg":"RS256"}`) + "." + b64(`{"exp":1e400}`) + ".AA",
		b64(`{"alg":"RS256"}`) + "." + b64(`{} {}`) + ".AA",
		b64(`null`) + "." + b64(`null`) + ".",
		"..",
		"a.b.c.d.e",
		`{"payload":"e30","signatures":[]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseToken(raw)
		if err != nil {
			if KindOf(err) == 0 {
				t.Fatalf("parseToken error %v is not an *Error", err)
			}
			return
		}
		if !slices.Contains(allowedAlgs, jose.SignatureAlgorithm(tok.alg)) {
			t.Fatalf("accepted alg %q", tok.alg)
		}
		if tok.claims == nil {
			t.Fatal("accepted without claims")
		}
		if _, ok := tok.jws.Signatures[0].Header.ExtraHeaders["crit"]; ok {
			t.Fatal("accepted a crit header")
		}
		// The claim readers must not panic on whatever was accepted.
		for _, name := range []string{"iss", "sub", "aud", "azp", "amr", "exp", "nbf", "iat", "jti"} {
			_, _, _ = stringClaim(tok.claims, name)
			_, _, _ = stringsClaim(tok.claims, name)
			_, _, _ = timeClaim(tok.claims, name)
		}
	})
}
