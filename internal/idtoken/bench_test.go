package idtoken_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/oidctest"
)

// benchVerify measures Verify with the keys already cached, cycling through tokens
// distinct tokens: with one, every call after the first is answered from the
// verified-token cache; with more than the cache holds, every call verifies.
func benchVerify(b *testing.B, alg string, tokens int) {
	p := oidctest.New(b, oidctest.WithTLS())
	v, err := idtoken.New(idtoken.Options{
		Providers:  []idtoken.Provider{{URL: p.URL(), ClientIDs: []string{clientID}}},
		HTTPClient: p.Client(),
		Now:        func() time.Time { return t0 },
	})
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, tokens)
	for i := range toks {
		toks[i] = p.Sign(with(p.Claims(t0, clientID, "org/o/project/p/user/u"), "jti", strconv.Itoa(i)), oidctest.WithAlg(alg))
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, toks[0]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := v.Verify(ctx, toks[i%len(toks)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// More tokens than the verified-token cache holds (1024): every call verifies.
const distinctTokens = 1100

func BenchmarkVerifyRS256(b *testing.B)       { benchVerify(b, "RS256", distinctTokens) }
func BenchmarkVerifyES256(b *testing.B)       { benchVerify(b, "ES256", distinctTokens) }
func BenchmarkVerifyRS256Cached(b *testing.B) { benchVerify(b, "RS256", 1) }

// signature returns the decoded signature of tok.
func signature(b *testing.B, tok string) []byte {
	sig, err := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
	if err != nil {
		b.Fatal(err)
	}
	return sig
}

// BenchmarkRawRSAVerifyPKCS1v15 is the floor: the RS256 check alone.
func BenchmarkRawRSAVerifyPKCS1v15(b *testing.B) {
	p := oidctest.New(b)
	tok := p.Sign(p.Claims(t0, clientID, "org/o/project/p/user/u"))
	pub := p.PublicKey("RS256").(*rsa.PublicKey)
	sig := signature(b, tok)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256([]byte(tok[:strings.LastIndexByte(tok, '.')]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawECDSAVerify is the floor for ES256.
func BenchmarkRawECDSAVerify(b *testing.B) {
	p := oidctest.New(b)
	tok := p.Sign(p.Claims(t0, clientID, "org/o/project/p/user/u"), oidctest.WithAlg("ES256"))
	pub := p.PublicKey("ES256").(*ecdsa.PublicKey)
	sig := signature(b, tok)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256([]byte(tok[:strings.LastIndexByte(tok, '.')]))
		if !ecdsa.Verify(pub, h[:], r, s) {
			b.Fatal("ecdsa verify failed")
		}
	}
}
