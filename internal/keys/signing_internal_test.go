package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
)

func TestRawECDSA(t *testing.T) {
	t.Parallel()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)
	for i := range 50 {
		digest[0] = byte(i)
		der, err := ecdsa.SignASN1(rand.Reader, k, digest)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := rawECDSA(der, 32)
		if err != nil {
			t.Fatalf("rawECDSA: %v", err)
		}
		r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
		if !ecdsa.Verify(&k.PublicKey, digest, r, s) {
			t.Fatalf("r || s from rawECDSA does not verify")
		}
	}
	for name, der := range map[string][]byte{
		"an empty signature is refused":         {},
		"a long-form length is refused":         {0x30, 0x81, 0x00},
		"trailing bytes are refused":            {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},
		"an integer longer than 32 bytes":       append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, make([]byte, 35)...),
		"a missing second integer is refused":   {0x30, 0x03, 0x02, 0x01, 0x01},
		"a wrong tag for an integer is refused": {0x30, 0x06, 0x04, 0x01, 0x01, 0x02, 0x01, 0x01},
	} {
		if _, err := rawECDSA(der, 32); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzRawECDSA(f *testing.F) {
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02})
	f.Add([]byte{0x30, 0x08, 0x02, 0x02, 0x00, 0x80, 0x02, 0x02, 0x00, 0xff})
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		raw, err := rawECDSA(der, 32)
		if err != nil {
			return
		}
		if len(raw) != 64 {
			t.Fatalf("len = %d", len(raw))
		}
		// Whatever rawECDSA accepts, encoding/asn1 reads as the same two integers
		// (asn1 is stricter about minimal encodings, so only check one direction).
		var sig struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(der, &sig); err == nil && len(rest) == 0 && sig.R.Sign() >= 0 && sig.S.Sign() >= 0 {
			if !bytes.Equal(sig.R.FillBytes(make([]byte, 32)), raw[:32]) || !bytes.Equal(sig.S.FillBytes(make([]byte, 32)), raw[32:]) {
				t.Fatalf("rawECDSA disagrees with encoding/asn1 on %x", der)
			}
		}
	})
}

func TestMaintainReturnsWhenContextEnds(t *testing.T) {
	t.Parallel()
	r := &ring{opts: Options{Refresh: DefaultRefresh}}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Maintain(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Maintain = %v, want context.Canceled", err)
	}
}
