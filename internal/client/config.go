// Package client is the CI job's side of keyless: it finds the job's OIDC token, calls
// STS AssumeRoleWithWebIdentity (retrying what is transient), and hands the temporary
// credentials on as shell exports, credential_process JSON, an AWS profile, or the
// environment of a command it runs (optionally refreshed through a loopback credential
// endpoint). It replaces CircleCI's aws-cli orb step; see docs/client.md.
package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultRegion is used when neither --region, $AWS_REGION nor $AWS_DEFAULT_REGION says.
const DefaultRegion = "us-east-1"

// Session duration limits of AssumeRoleWithWebIdentity (AWS-WIRE 1.2).
const (
	MinDuration = 15 * time.Minute
	MaxDuration = 12 * time.Hour
)

// maxSessionPolicy is the plaintext limit of an inline session policy.
const maxSessionPolicy = 2048

// Flags are the command-line values shared by assume and exec; "" means not given.
type Flags struct {
	TokenFile         string
	Token             string // only "-": read the token from stdin
	RoleARN           string
	RoleSessionName   string
	Duration          string // seconds ("3600", as the orb takes it) or a Go duration ("1h")
	Region            string
	STSEndpoint       string
	S3Endpoint        string
	SessionPolicyFile string
}

// Config is a resolved request: every default applied, every value checked.
type Config struct {
	Token         TokenSource
	RoleARN       string
	SessionName   string
	Duration      time.Duration // 0: the server's default (1h)
	Region        string
	STSEndpoint   Endpoint // URL "" means AWS's own regional endpoint
	S3Endpoint    string   // "" unless --s3-endpoint
	SessionPolicy string   // compacted JSON, "" for none
	// Notes are things worth telling the user on stderr (a sanitised session name, a
	// default region); never secrets.
	Notes []string
}

// Endpoint is an STS endpoint URL and where it was configured.
type Endpoint struct {
	URL  string
	From string // "--sts-endpoint", "$AWS_ENDPOINT_URL_STS", "$AWS_ENDPOINT_URL"; "" for AWS's
}

// String names the endpoint for messages.
func (e Endpoint) String() string {
	if e.URL == "" {
		return "AWS's STS endpoint for the region"
	}
	return fmt.Sprintf("%s (from %s)", e.URL, e.From)
}

// Resolve applies the documented defaults to f: getenv reads the environment (os.Getenv
// in production), stdin is read only for --token -. Every error describes bad input.
func Resolve(f Flags, getenv func(string) string, stdin io.Reader, now time.Time) (Config, error) {
	var c Config
	var errs []error
	tok, err := findToken(f, getenv, stdin)
	errs = append(errs, err)
	c.Token = tok

	c.RoleARN = firstSet(f.RoleARN, getenv("AWS_ROLE_ARN"))
	errs = append(errs, checkRoleARN(c.RoleARN))

	name, note, err := sessionName(f, getenv, now)
	errs = append(errs, err)
	c.SessionName = name
	c.addNote(note)

	c.Duration, err = parseDuration(f.Duration)
	errs = append(errs, err)

	c.Region = firstSet(f.Region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
	if c.Region == "" {
		c.Region = DefaultRegion
	}

	c.STSEndpoint, err = stsEndpoint(f, getenv)
	errs = append(errs, err)
	if err == nil && plainRemote(c.STSEndpoint.URL) {
		c.addNote(fmt.Sprintf("the STS endpoint %s is plain http to another machine: the token crosses the network unencrypted", c.STSEndpoint.URL))
	}
	if f.S3Endpoint != "" {
		errs = append(errs, checkURL("--s3-endpoint", f.S3Endpoint))
		c.S3Endpoint = f.S3Endpoint
	}

	if f.SessionPolicyFile != "" {
		c.SessionPolicy, err = readSessionPolicy(f.SessionPolicyFile)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) addNote(n string) {
	if n != "" {
		c.Notes = append(c.Notes, n)
	}
}

func firstSet(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// checkRoleARN catches what STS would reject anyway, with a clearer message.
func checkRoleARN(arn string) error {
	if arn == "" {
		return errors.New("no role: give --role-arn ARN or set $AWS_ROLE_ARN")
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") || len(arn) > 2048 {
		return fmt.Errorf("--role-arn %q is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", arn)
	}
	return nil
}

// parseDuration takes whole seconds, as the orb's session_duration does, or a Go duration.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if n, nerr := strconv.ParseInt(s, 10, 64); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("--duration %q: want seconds (3600) or a duration (1h)", s)
	case d%time.Second != 0:
		return 0, fmt.Errorf("--duration %q: STS takes whole seconds", s)
	case d < MinDuration || d > MaxDuration:
		return 0, fmt.Errorf("--duration %q: STS accepts 15m (900) to 12h (43200), and at most the role's maximum", s)
	}
	return d, nil
}

// stsEndpoint: --sts-endpoint, then $AWS_ENDPOINT_URL_STS, then $AWS_ENDPOINT_URL, the
// SDKs' order (AWS-WIRE 9.3); the variables are ignored when
// $AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true, as the SDKs do.
func stsEndpoint(f Flags, getenv func(string) string) (Endpoint, error) {
	if f.STSEndpoint != "" {
		return Endpoint{URL: f.STSEndpoint, From: "--sts-endpoint"}, checkURL("--sts-endpoint", f.STSEndpoint)
	}
	if strings.EqualFold(strings.TrimSpace(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")), "true") {
		return Endpoint{}, nil
	}
	for _, name := range []string{"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return Endpoint{URL: v, From: "$" + name}, checkURL("$"+name, v)
		}
	}
	return Endpoint{}, nil
}

// plainRemote reports whether raw is an http:// URL to a host other than loopback.
func plainRemote(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(h)
	return err != nil || !ip.IsLoopback()
}

func checkURL(from, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q is not an http(s) URL", from, raw)
	}
	return nil
}

// readSessionPolicy reads an inline session policy and compacts it, since STS counts
// its plaintext characters.
func readSessionPolicy(path string) (string, error) {
	raw, err := readLimited(path, 1<<20)
	if err != nil {
		return "", fmt.Errorf("--session-policy: %w", err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", fmt.Errorf("--session-policy %s is not JSON: %w", path, err)
	}
	if b.Len() > maxSessionPolicy {
		return "", fmt.Errorf("--session-policy %s has %d characters without white space; STS accepts at most %d", path, b.Len(), maxSessionPolicy)
	}
	return b.String(), nil
}
