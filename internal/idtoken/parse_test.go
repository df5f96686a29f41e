package idtoken

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"
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
		if !slices.Contains(allowedAlgs, tok.alg) {
			t.Fatalf("accepted alg %q", tok.alg)
		}
		if tok.claims == nil {
			t.Fatal("accepted without claims")
		}
		hdr, err := decodeSegment(raw[:strings.IndexByte(raw, '.')])
		if err != nil {
			t.Fatalf("accepted a header that is not a JSON object: %v", err)
		}
		if _, ok := hdr["crit"]; ok {
			t.Fatal("accepted a crit header")
		}
		if !strings.HasPrefix(raw, tok.signed+".") || len(tok.sig) == 0 {
			t.Fatal("signing input or signature not taken from the token")
		}
		// The claim readers must not panic on whatever was accepted.
		for _, name := range []string{"iss", "sub", "aud", "azp", "amr", "exp", "nbf", "iat", "jti"} {
			_, _, _ = stringClaim(tok.claims, name)
			_, _, _ = stringsClaim(tok.claims, name)
			_, _, _ = timeClaim(tok.claims, name)
		}
	})
}

// FuzzClaims runs the claim checks and the condition-key builder on
// arbitrary claim sets (as if the signature had verified): no panic, and
// an accepted identity has a sub, an audience among the client ids and
// its aud and sub keys.
func FuzzClaims(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"https://i.example.com","aud":"c","sub":"s","exp":1764417600}`,
		`{"aud":["x","c"],"azp":"c","sub":"s","exp":1764417600,"nbf":1764417000,"iat":1764417000,"amr":["a",1]}`,
		`{"aud":[],"sub":"s","exp":1764417600}`,
		`{"aud":"x","azp":"c","sub":"s","exp":1764417600,"n":{"o":[1,{"p":null}]},"b":true,"f":1.5e300}`,
		`{"aud":"c","sub":"s","exp":-1}`,
		`{"aud":"c","sub":"s","exp":99999999999999999999}`,
		`{"aud":"c","sub":"s","exp":"1764417600"}`,
		`{"aud":"c","sub":"s","exp":1764417600,"https://aws.amazon.com/tags":{"principal_tags":{"a":["b"]}}}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Unix(1764417000, 0)
	v := &Verifier{now: func() time.Time { return now }, leeway: DefaultLeeway}
	p := &provider{cfg: Provider{URL: "https://i.example.com", ClientIDs: []string{"c"}}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		claims, err := decodeClaims(payload)
		if err != nil {
			return
		}
		id, err := v.checkClaims(p, &token{alg: "RS256", kid: "k", claims: claims})
		if err != nil {
			if KindOf(err) == 0 {
				t.Fatalf("checkClaims error %v is not an *Error", err)
			}
			return
		}
		if id.Subject == "" || !slices.Contains(p.cfg.ClientIDs, id.Audience) {
			t.Fatalf("accepted identity with sub %q, audience %q", id.Subject, id.Audience)
		}
		for _, awsOnly := range []bool{true, false} {
			keys := id.ConditionKeys(awsOnly)
			if _, ok := keys["i.example.com:sub"]; !ok {
				t.Fatal("no sub condition key")
			}
			if _, ok := keys["i.example.com:aud"]; !ok {
				t.Fatal("no aud condition key")
			}
			if _, ok := keys["i.example.com:"+tagsClaim]; ok {
				t.Fatal("session tags claim became a condition key")
			}
		}
	})
}

func TestParseTokenChecksTheHeaderStrictly(t *testing.T) {
	t.Parallel()
	claims := b64(`{"iss":"https://i.example.com","sub":"s"}`)
	tests := []struct {
		name    string
		raw     string
		want    Kind // 0: accepted
		wantKid string
	}{
		{"alg and kid are read", b64(`{"alg":"RS256","kid":"k","typ":"JWT"}`) + "." + claims + ".c2ln", 0, "k"},
		{"jku, x5u, x5c and jwk are ignored", b64(`{"alg":"ES256","kid":"k","jku":"https://evil","x5u":"https://evil","x5c":["MIIB"],"jwk":{"kty":"EC"}}`) + "." + claims + ".c2ln", 0, "k"},
		{"no kid is left to the key lookup", b64(`{"alg":"RS256"}`) + "." + claims + ".c2ln", 0, ""},
		{"parameter names are case sensitive", b64(`{"ALG":"RS256","kid":"k"}`) + "." + claims + ".c2ln", KindMalformed, ""},
		{"an alg that is not a string is malformed", b64(`{"alg":256,"kid":"k"}`) + "." + claims + ".c2ln", KindMalformed, ""},
		{"a kid that is not a string is malformed", b64(`{"alg":"RS256","kid":7}`) + "." + claims + ".c2ln", KindMalformed, ""},
		{"crit is refused", b64(`{"alg":"RS256","kid":"k","crit":["exp"],"exp":1}`) + "." + claims + ".c2ln", KindMalformed, ""},
		{"none is not allowed", b64(`{"alg":"none"}`) + "." + claims + ".", KindBadAlgorithm, ""},
		{"PS256 is not allowed", b64(`{"alg":"PS256","kid":"k"}`) + "." + claims + ".c2ln", KindBadAlgorithm, ""},
		{"padded base64 is malformed", b64(`{"alg":"RS256","kid":"k"}`) + "=." + claims + ".c2ln", KindMalformed, ""},
		{"standard base64 is malformed", b64(`{"alg":"RS256","kid":"k"}`) + "." + claims + ".c2l+", KindMalformed, ""},
		{"an empty signature is malformed", b64(`{"alg":"RS256","kid":"k"}`) + "." + claims + ".", KindMalformed, ""},
		{"a header that is an array is malformed", b64(`["alg","RS256"]`) + "." + claims + ".c2ln", KindMalformed, ""},
		{"four parts are malformed", b64(`{"alg":"RS256"}`) + "." + claims + ".c2ln.c2ln", KindMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok, err := parseToken(tc.raw)
			if got := KindOf(err); got != tc.want {
				t.Fatalf("kind = %v (%v), want %v", got, err, tc.want)
			}
			if err == nil && tok.kid != tc.wantKid {
				t.Errorf("kid = %q, want %q", tok.kid, tc.wantKid)
			}
		})
	}
}
