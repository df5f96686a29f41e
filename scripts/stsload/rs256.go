package main

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// rs256Rounds is how many verifications the reference measurement averages.
const rs256Rounds = 2000

// measureRS256 fetches the key that signed tok from its issuer's JWKS (loopback only)
// and returns the process CPU time of one bare rsa.VerifyPKCS1v15 of it: the reference
// the server's CPU per call is compared with, measured on the same machine in the same
// run. tok is never printed.
func measureRS256(ctx context.Context, client *http.Client, tok string) (time.Duration, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return 0, errors.New("token is not a compact JWS")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if err := decodePart(parts[0], &header); err != nil {
		return 0, fmt.Errorf("token header: %w", err)
	}
	if err := decodePart(parts[1], &claims); err != nil {
		return 0, fmt.Errorf("token claims: %w", err)
	}
	if header.Alg != "RS256" {
		return 0, fmt.Errorf("token alg is %q, not RS256", header.Alg)
	}
	pub, err := fetchKey(ctx, client, claims.Iss, header.Kid)
	if err != nil {
		return 0, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return 0, fmt.Errorf("token signature: %w", err)
	}
	signed := []byte(tok[:len(parts[0])+1+len(parts[1])])
	verify := func() error {
		h := sha256.Sum256(signed)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig)
	}
	if err := verify(); err != nil {
		return 0, fmt.Errorf("the token does not verify with its issuer's key: %w", err)
	}
	start, err := processCPU()
	if err != nil {
		return 0, err
	}
	for range rs256Rounds {
		_ = verify()
	}
	end, err := processCPU()
	if err != nil {
		return 0, err
	}
	return (end - start) / rs256Rounds, nil
}

func decodePart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// fetchKey reads iss's discovery document and JWKS and returns the RSA key kid.
func fetchKey(ctx context.Context, client *http.Client, iss, kid string) (*rsa.PublicKey, error) {
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(ctx, client, strings.TrimSuffix(iss, "/")+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, client, disc.JWKSURI, &set); err != nil {
		return nil, err
	}
	for _, k := range set.Key(kid) {
		if pub, ok := k.Key.(*rsa.PublicKey); ok {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("the issuer publishes no RSA key %q", kid)
}

func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	if err := checkLoopback(u); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: status %d", u, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// processCPU is this process's user plus system CPU time so far.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
