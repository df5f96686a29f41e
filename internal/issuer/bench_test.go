package issuer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/keyless-dev/keyless/internal/issuer"
	"github.com/keyless-dev/keyless/internal/keys"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
)

// BenchmarkMint compares minting a token (validation, claims, JSON, jti, signature) with
// one raw signature of the same algorithm over a payload of the same size, in the same run.
// docs/issuer.md records the figures and the command.
func BenchmarkMint(b *testing.B) {
	req := issuer.MintRequest{
		OrgID: org, ProjectID: "7c0b4c6e-1111-4222-8333-944455556666", UserID: "0e2c3b1a-aaaa-4bbb-8ccc-ddddeeeeffff",
		VCSOrigin: "github.com/my-org/repo", VCSRef: "refs/heads/main", ContextIDs: []string{"c0ffee00-0000-4000-8000-000000000001"},
		PipelineID: "p", WorkflowID: "w", JobID: "j",
	}
	for _, alg := range []string{keys.ES256, keys.RS256} {
		db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "keyless.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = db.Close() })
		ring, err := keys.NewSigningRing(b.Context(), keys.Options{Store: db, MasterKey: master, Algorithm: alg})
		if err != nil {
			b.Fatal(err)
		}
		iss, err := issuer.New(issuer.Options{PublicURL: "http://127.0.0.1:8700", Orgs: []string{org},
			MintSecret: []byte(secret), Keys: ring, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg+"/mint", func(b *testing.B) {
			for b.Loop() {
				if _, err := iss.Mint(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
		payload, _ := json.Marshal(map[string]string{"pad": string(make([]byte, 700))}) // a token's claims size
		sign := rawSigner(b, alg)
		b.Run(alg+"/raw-signature", func(b *testing.B) {
			for b.Loop() {
				digest := sha256.Sum256(payload)
				if _, err := sign(digest[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func rawSigner(b *testing.B, alg string) func(digest []byte) ([]byte, error) {
	switch alg {
	case keys.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		return func(d []byte) ([]byte, error) { return ecdsa.SignASN1(rand.Reader, k, d) }
	default:
		gen, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		// Round-trip through PKCS #8, as the ring stores and loads its keys.
		der, err := x509.MarshalPKCS8PrivateKey(gen)
		if err != nil {
			b.Fatal(err)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			b.Fatal(err)
		}
		k := parsed.(*rsa.PrivateKey)
		return func(d []byte) ([]byte, error) { return rsa.SignPKCS1v15(nil, k, crypto.SHA256, d) }
	}
}
