package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/idtoken"
)

// tokenVerifyCmd is `keyless token verify --provider URL --audience AUD TOKEN`.
type tokenVerifyCmd struct {
	Provider              string        `required:"" placeholder:"URL" help:"Issuer URL of the OIDC provider, exactly as the token's iss (http only on loopback)."`
	Audience              []string      `required:"" placeholder:"AUD" help:"Accepted audience (client id); repeatable."`
	AWSCompatibleKeysOnly bool          `name:"aws-compatible-keys-only" help:"List only the condition keys AWS itself provides."`
	Timeout               time.Duration `default:"30s" help:"Timeout for discovery and JWKS."`
	Token                 string        `arg:"" help:"The token; - reads it from stdin."`
}

// verifyOutput is what `token verify` prints.
type verifyOutput struct {
	Issuer        string         `json:"issuer"`
	Subject       string         `json:"subject"`
	Audience      string         `json:"audience"`
	KeyID         string         `json:"kid"`
	Algorithm     string         `json:"alg"`
	Expires       time.Time      `json:"expires"`
	Claims        map[string]any `json:"claims"`
	ConditionKeys map[string]any `json:"conditionKeys"`
}

// Run verifies the token (discovery, JWKS, signature, times, audience) with the same code
// as keyless STS, and prints the claims and the condition keys a trust policy would see.
// A token that does not verify exits 1 with the reason.
func (c *tokenVerifyCmd) Run(io stdio) error {
	tok := c.Token
	if tok == "-" {
		b, err := readAllLimited(io.In, 1<<20)
		if err != nil {
			return badInput("read token from stdin: %v", err)
		}
		tok = string(b)
	}
	v, err := idtoken.New(idtoken.Options{
		Providers:         []idtoken.Provider{{URL: c.Provider, ClientIDs: c.Audience}},
		AllowHTTPLoopback: true, // a debugging tool: the dev issuer is http://127.0.0.1
	})
	if err != nil {
		return badInput("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	id, err := v.Verify(ctx, strings.TrimSpace(tok))
	if err != nil {
		fmt.Fprintln(io.Err, "keyless: the token does not verify:", err)
		return exitStatus(1)
	}
	out := verifyOutput{
		Issuer: id.Issuer, Subject: id.Subject, Audience: id.Audience, KeyID: id.KeyID,
		Algorithm: id.Algorithm, Expires: id.Expiry.UTC(), Claims: id.Claims,
		ConditionKeys: map[string]any{},
	}
	// The policy request file's form: a string for a single value, an array for a
	// multi-valued key (so the output can be pasted into `keyless policy eval`).
	for k, cv := range id.ConditionKeys(c.AWSCompatibleKeysOnly) {
		if cv.MultiValued {
			out.ConditionKeys[k] = append([]string{}, cv.Values...)
		} else if len(cv.Values) == 1 {
			out.ConditionKeys[k] = cv.Values[0]
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = io.Out.Write(append(b, '\n'))
	return err
}
