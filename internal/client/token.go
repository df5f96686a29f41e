package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Token length limits of AssumeRoleWithWebIdentity's WebIdentityToken (AWS-WIRE 1.2).
const (
	minTokenLen = 4
	maxTokenLen = 20000
)

// TokenSource is where the job's OIDC token comes from. A file source is read again on
// every call to Token, so a CI system that rewrites the file keeps refreshes working; the
// other sources hold the value they were given.
type TokenSource struct {
	// Name says where the token came from, for messages: "--token-file FILE", "stdin",
	// "$CIRCLE_OIDC_TOKEN_V2", "$AWS_WEB_IDENTITY_TOKEN_FILE (FILE)". Never the token.
	Name  string
	path  string
	value string
}

// FileToken is a source that reads path on every call.
func FileToken(name, path string) TokenSource { return TokenSource{Name: name, path: path} }

// StaticToken is a source that always returns value.
func StaticToken(name, value string) TokenSource { return TokenSource{Name: name, value: value} }

// Renewable reports whether Token may return a newer token later (a file source).
func (s TokenSource) Renewable() bool { return s.path != "" }

// Token returns the token with surrounding white space removed (CircleCI's docs write
// token files with a trailing newline, AWS-WIRE 1.8).
func (s TokenSource) Token() (string, error) {
	raw := s.value
	if s.path != "" {
		b, err := readLimited(s.path, 4*maxTokenLen)
		if err != nil {
			return "", fmt.Errorf("read the token from %s: %w", s.Name, err)
		}
		raw = string(b)
	}
	tok := strings.TrimSpace(raw)
	switch {
	case tok == "":
		return "", fmt.Errorf("the token from %s is empty", s.Name)
	case len(tok) < minTokenLen || len(tok) > maxTokenLen:
		return "", fmt.Errorf("the token from %s has %d characters; STS accepts %d to %d", s.Name, len(tok), minTokenLen, maxTokenLen)
	}
	return tok, nil
}

func readLimited(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimited(f, n)
}

func readAllLimited(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err == nil && int64(len(b)) > n {
		err = fmt.Errorf("more than %d bytes", n)
	}
	return b, err
}

// findToken picks the token source in the documented order: --token-file, --token -
// (stdin), $CIRCLE_OIDC_TOKEN_V2, $CIRCLE_OIDC_TOKEN, $AWS_WEB_IDENTITY_TOKEN_FILE.
// Environment variables that are empty or blank count as unset.
func findToken(f Flags, getenv func(string) string, stdin io.Reader) (TokenSource, error) {
	switch {
	case f.TokenFile != "" && f.Token != "":
		return TokenSource{}, errors.New("give only one of --token-file and --token")
	case f.TokenFile != "":
		return FileToken("--token-file "+f.TokenFile, f.TokenFile), nil
	case f.Token == "-":
		if stdin == nil {
			return TokenSource{}, errors.New("--token -: no standard input")
		}
		b, err := readAllLimited(stdin, 4*maxTokenLen)
		if err != nil {
			return TokenSource{}, fmt.Errorf("--token -: read standard input: %w", err)
		}
		return StaticToken("stdin", string(b)), nil
	case f.Token != "":
		return TokenSource{}, errors.New("--token accepts only - (read the token from standard input): a token on the command line is visible to every process on the machine; use --token-file or $CIRCLE_OIDC_TOKEN_V2")
	}
	for _, name := range []string{"CIRCLE_OIDC_TOKEN_V2", "CIRCLE_OIDC_TOKEN"} {
		if v := getenv(name); strings.TrimSpace(v) != "" {
			return StaticToken("$"+name, v), nil
		}
	}
	if p := strings.TrimSpace(getenv("AWS_WEB_IDENTITY_TOKEN_FILE")); p != "" {
		return FileToken("$AWS_WEB_IDENTITY_TOKEN_FILE ("+p+")", p), nil
	}
	return TokenSource{}, errors.New("no token: give --token-file FILE or --token - (stdin), or set $CIRCLE_OIDC_TOKEN_V2, $CIRCLE_OIDC_TOKEN or $AWS_WEB_IDENTITY_TOKEN_FILE")
}

// TokenInfo is what a token says about itself, decoded WITHOUT verification: only for
// telling the user what STS saw.
type TokenInfo struct {
	Issuer   string
	Audience []string
	Subject  string
	Expiry   time.Time // zero when absent
}

// DescribeToken decodes the claims that failure messages need. It never returns the token
// or its signature.
func DescribeToken(tok string) (TokenInfo, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return TokenInfo{}, fmt.Errorf("not a JWT: %d dot-separated parts, want 3", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return TokenInfo{}, errors.New("not a JWT: the claims are not base64url")
	}
	var c struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return TokenInfo{}, errors.New("not a JWT: the claims are not a JSON object of the usual types")
	}
	info := TokenInfo{Issuer: c.Iss, Subject: c.Sub}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		info.Audience = []string{one}
	} else {
		_ = json.Unmarshal(c.Aud, &info.Audience) // absent or odd: leave empty
	}
	if f, err := c.Exp.Float64(); err == nil && f > 0 {
		info.Expiry = time.Unix(int64(f), 0).UTC()
	}
	return info, nil
}

// String renders the claims for a message: iss="..." aud="..." sub="..." exp=....
func (i TokenInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "iss=%q aud=%q sub=%q", i.Issuer, strings.Join(i.Audience, ","), i.Subject)
	if !i.Expiry.IsZero() {
		fmt.Fprintf(&b, " exp=%s", i.Expiry.Format(time.RFC3339))
	}
	return b.String()
}
