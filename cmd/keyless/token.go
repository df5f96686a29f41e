package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/idtoken"
)

// tokenCmd groups the CI token tools.
type tokenCmd struct {
	Mint   tokenMintCmd   `cmd:"" help:"Ask a keyless issuer for a CI job token and print it."`
	Decode tokenDecodeCmd `cmd:"" help:"Print a token's header and claims as JSON (no verification)."`
	Verify tokenVerifyCmd `cmd:"" help:"Verify a token as keyless STS does and print its claims and condition keys."`
}

// tokenMintCmd is `keyless token mint`: it POSTs to <issuer>/-/oidc/mint.
type tokenMintCmd struct {
	Issuer         string        `required:"" placeholder:"URL" help:"Base URL of the keyless server, e.g. http://127.0.0.1:8700."`
	MintSecretFile string        `required:"" name:"mint-secret-file" placeholder:"FILE" help:"File holding the server's mint secret."`
	Org            string        `required:"" placeholder:"ORG" help:"Organization id (the issuer is <issuer>/-/oidc/org/ORG)."`
	ProjectID      string        `name:"project-id" placeholder:"P" help:"Project id (default: a random UUID)."`
	UserID         string        `name:"user-id" placeholder:"U" help:"User id (default: a random UUID)."`
	VCSOrigin      string        `name:"vcs-origin" placeholder:"O" help:"VCS origin: github.com/ORG/REPO for CircleCI, OWNER/REPO for github, GROUP/PROJECT for gitlab."`
	VCSRef         string        `name:"vcs-ref" placeholder:"R" help:"VCS ref, e.g. refs/heads/main."`
	ContextID      []string      `name:"context-id" placeholder:"C" help:"Context id (repeatable)."`
	SSHRerun       bool          `name:"ssh-rerun" help:"Mark the job as an SSH rerun."`
	Aud            string        `placeholder:"A" help:"Audience (default: the organization id)."`
	TTL            time.Duration `name:"ttl" placeholder:"DURATION" help:"Token lifetime, at most 24h (default: the server's, 1h)."`
	Profile        string        `default:"circleci-v2" enum:"circleci-v2,circleci-v1,github,gitlab" help:"Claim shape: ${enum}."`
	Timeout        time.Duration `default:"30s" help:"HTTP timeout."`
}

// mintRequest is the JSON body of POST /-/oidc/mint (internal/issuer.MintRequest; the client
// cannot import the server packages).
type mintRequest struct {
	OrgID      string   `json:"org_id"`
	ProjectID  string   `json:"project_id"`
	UserID     string   `json:"user_id"`
	VCSOrigin  string   `json:"vcs_origin,omitempty"`
	VCSRef     string   `json:"vcs_ref,omitempty"`
	ContextIDs []string `json:"context_ids,omitempty"`
	SSHRerun   bool     `json:"ssh_rerun,omitempty"`
	PipelineID string   `json:"pipeline_id"`
	WorkflowID string   `json:"workflow_id"`
	JobID      string   `json:"job_id"`
	Aud        string   `json:"aud,omitempty"`
	TTL        string   `json:"ttl,omitempty"`
	Profile    string   `json:"profile"`
}

// Run mints a token and prints it alone on stdout.
func (c *tokenMintCmd) Run(io stdio) error {
	base, err := url.Parse(c.Issuer)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return badInput("--issuer %q is not an http(s) URL", c.Issuer)
	}
	secret, err := readSecretFile(c.MintSecretFile)
	if err != nil {
		return badInput("%v", err)
	}
	if c.TTL < 0 {
		return badInput("--ttl must be positive")
	}
	body, err := json.Marshal(c.request())
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	token, err := postMint(ctx, strings.TrimRight(c.Issuer, "/")+"/-/oidc/mint", secret, body)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(io.Out, token)
	return err
}

// request builds the mint request, filling missing ids with random UUIDs and dropping a
// leading github.com/ or gitlab.com/ from the origin for the github and gitlab profiles.
func (c *tokenMintCmd) request() mintRequest {
	r := mintRequest{
		OrgID: c.Org, ProjectID: orUUID(c.ProjectID), UserID: orUUID(c.UserID),
		VCSOrigin: c.VCSOrigin, VCSRef: c.VCSRef, ContextIDs: c.ContextID, SSHRerun: c.SSHRerun,
		PipelineID: newUUID(), WorkflowID: newUUID(), JobID: newUUID(), Aud: c.Aud, Profile: c.Profile,
	}
	switch c.Profile {
	case "github":
		r.VCSOrigin = strings.TrimPrefix(r.VCSOrigin, "github.com/")
	case "gitlab":
		r.VCSOrigin = strings.TrimPrefix(r.VCSOrigin, "gitlab.com/")
	}
	if c.TTL > 0 {
		r.TTL = c.TTL.String()
	}
	return r
}

// readSecretFile reads a secret file as the server does: trimmed, non-empty. Unlike the
// server, the client never creates it.
func readSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mint secret file: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("mint secret file %s is empty", path)
	}
	return b, nil
}

// postMint sends the request and returns the token; a refusal from the server is reported
// with its error description (bad input for a 400, a failure otherwise).
func postMint(ctx context.Context, endpoint string, secret, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", badInput("--issuer: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+string(secret))
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("mint: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Description string `json:"error_description"`
		}
		msg := resp.Status
		if json.Unmarshal(raw, &e) == nil && e.Description != "" {
			msg = fmt.Sprintf("%s: %s", resp.Status, e.Description)
		}
		if resp.StatusCode == http.StatusBadRequest {
			return "", badInput("the issuer refused the request: %s", msg)
		}
		return "", fmt.Errorf("the issuer refused the request: %s", msg)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Token == "" {
		return "", errors.New("mint: the issuer's response has no token")
	}
	return out.Token, nil
}

func orUUID(s string) string {
	if s == "" {
		return newUUID()
	}
	return s
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// tokenDecodeCmd is `keyless token decode TOKEN`.
type tokenDecodeCmd struct {
	Token string `arg:"" help:"The token (compact JWS); - reads it from stdin."`
}

// Run prints {"header": ..., "claims": ...} without verifying anything.
func (c *tokenDecodeCmd) Run(io stdio) error {
	tok := c.Token
	if tok == "-" {
		b, err := readAllLimited(io.In, 1<<20)
		if err != nil {
			return badInput("read token from stdin: %v", err)
		}
		tok = string(b)
	}
	out, err := decodeToken(strings.TrimSpace(tok))
	if err != nil {
		return badInput("%v", err)
	}
	_, err = io.Out.Write(out)
	return err
}

func readAllLimited(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err == nil && int64(len(b)) > n {
		err = fmt.Errorf("more than %d bytes", n)
	}
	return b, err
}

// decodeToken returns the header and claims of a compact JWS as indented JSON. Numbers and
// key order are kept as the token has them.
func decodeToken(tok string) ([]byte, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT: %d dot-separated parts, want 3", len(parts))
	}
	var seg [2]json.RawMessage
	for i, name := range []string{"header", "claims"} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, fmt.Errorf("not a JWT: %s is not base64url", name)
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
			return nil, fmt.Errorf("not a JWT: %s is not a JSON object", name)
		}
		seg[i] = raw
	}
	out, err := json.MarshalIndent(struct {
		Header json.RawMessage `json:"header"`
		Claims json.RawMessage `json:"claims"`
	}{seg[0], seg[1]}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

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
