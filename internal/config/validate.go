package config

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

var (
	accountRe     = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe      = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+$`)
	roleNameRe    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	rolePathRe    = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)
	orgRe         = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,127}$`)
	thumbprintRe  = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)
	accessKeyIDRe = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
	bucketRe      = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	ipLikeRe      = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
)

func (c *Config) validate(p *problems) {
	if !accountRe.MatchString(c.AccountID) {
		p.add("account_id", "must be 12 digits, got %q", c.AccountID)
	}
	if !regionRe.MatchString(c.Region) {
		p.add("region", "%q is not a region name such as us-east-1", c.Region)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("listen", "must be host:port, got %q", c.Listen)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		p.add("public_url", "must be an http:// or https:// URL with no query, got %q", c.PublicURL)
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		p.add("database_url", "must be a postgres:// URL (or empty for the embedded SQLite store)")
	}
	c.validateIssuer(p)
	c.validateProviders(p)
	c.validateRoles(p)
	c.validateBuckets(p)
	c.validateObjects(p)
	c.validateOperatorKeys(p)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.add("tls", "cert_file and key_file go together: set both or neither")
	}
	if d := c.S3.Domain; d != "" && (strings.Contains(d, "/") || strings.HasPrefix(d, ".")) {
		p.add("s3.domain", "must be a bare domain such as s3.example.com, got %q", d)
	}
	switch c.Audit.S3Events {
	case "all", "writes", "denied":
	default:
		p.add("audit.s3_events", "must be all, writes or denied, got %q", c.Audit.S3Events)
	}
	if *c.RateLimits.PerSourceIP < 0 {
		p.add("rate_limits.per_source_ip", "must be 0 (no limit) or more")
	}
	if *c.RateLimits.PerRole < 0 {
		p.add("rate_limits.per_role", "must be 0 (no limit) or more")
	}
}

func (c *Config) validateIssuer(p *problems) {
	if !c.Issuer.On() {
		return
	}
	if len(c.Issuer.Orgs) == 0 {
		p.add("issuer.orgs", "an enabled issuer needs at least one org (or set issuer.enabled: false)")
	}
	seen := map[string]bool{}
	for i, o := range c.Issuer.Orgs {
		if !orgRe.MatchString(o) {
			p.add(fmt.Sprintf("issuer.orgs[%d]", i), "%q is not an org id (letters, digits and '-', such as a UUID)", o)
		}
		if seen[o] {
			p.add(fmt.Sprintf("issuer.orgs[%d]", i), "%q is listed twice", o)
		}
		seen[o] = true
	}
	if a := c.Issuer.Algorithm; a != "RS256" && a != "ES256" {
		p.add("issuer.algorithm", "must be RS256 or ES256, got %q", a)
	}
	if ttl := c.Issuer.TokenTTL.D(); ttl < time.Minute || ttl > 24*time.Hour {
		p.add("issuer.token_ttl", "must be between 1m and 24h, got %s", ttl)
	}
	if c.Issuer.RotateEvery.D() < 2*c.Issuer.TokenTTL.D() {
		p.add("issuer.rotate_every", "must be at least twice token_ttl (%s), got %s", c.Issuer.TokenTTL, c.Issuer.RotateEvery)
	}
}

func (c *Config) validateProviders(p *problems) {
	seen := map[string]bool{}
	for i, pr := range c.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		u, err := url.Parse(pr.URL)
		switch {
		case err != nil || u.Host == "":
			p.add(path+".url", "%q is not a URL", pr.URL)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			p.add(path+".url", "must not carry a query, fragment or user info")
		case u.Scheme == "https":
		case u.Scheme == "http" && c.Dev && isLoopback(u.Hostname()):
		case u.Scheme == "http":
			p.add(path+".url", "must be https:// (http:// only for a loopback issuer with dev: true)")
		default:
			p.add(path+".url", "must be https://, got scheme %q", u.Scheme)
		}
		if seen[pr.URL] {
			p.add(path+".url", "%q is listed twice", pr.URL)
		}
		seen[pr.URL] = true
		if len(pr.ClientIDs) == 0 || len(pr.ClientIDs) > 100 {
			p.add(path+".client_ids", "needs 1 to 100 client ids (the audiences this provider's tokens carry)")
		}
		for j, id := range pr.ClientIDs {
			if id == "" || len(id) > 255 {
				p.add(fmt.Sprintf("%s.client_ids[%d]", path, j), "must be 1 to 255 characters")
			}
		}
		if len(pr.Thumbprints) > 5 {
			p.add(path+".thumbprints", "at most 5 thumbprints")
		}
		for j, t := range pr.Thumbprints {
			if !thumbprintRe.MatchString(t) {
				p.add(fmt.Sprintf("%s.thumbprints[%d]", path, j), "must be 40 hex characters (a SHA-1 fingerprint)")
			}
		}
	}
}

func (c *Config) validateRoles(p *problems) {
	seen := map[string]bool{}
	for i, r := range c.Roles {
		path := fmt.Sprintf("roles[%d]", i)
		if !roleNameRe.MatchString(r.Name) {
			p.add(path+".name", "%q is not a role name (1 to 64 of letters, digits and +=,.@_-)", r.Name)
		}
		if k := strings.ToLower(r.Name); seen[k] {
			p.add(path+".name", "%q is already used (role names are case-insensitive)", r.Name)
		} else {
			seen[k] = true
		}
		if !rolePathRe.MatchString(r.Path) || len(r.Path) > 512 {
			p.add(path+".path", "must be / or /some/path/, got %q", r.Path)
		}
		if d := r.MaxSessionDuration.D(); d < time.Hour || d > 12*time.Hour {
			p.add(path+".max_session_duration", "must be between 1h and 12h, got %s", d)
		}
		if r.TrustPolicy.File == "" && len(r.TrustPolicy.JSON) == 0 {
			p.add(path+".trust_policy", "is required: who may assume this role")
		}
	}
}

func (c *Config) validateBuckets(p *problems) {
	seen := map[string]bool{}
	for i, b := range c.Buckets {
		path := fmt.Sprintf("buckets[%d]", i)
		if !ValidBucketName(b) {
			p.add(path, "%q is not a valid bucket name (3 to 63 of a-z, 0-9, '.', '-', starting and ending with a letter or digit)", b)
		}
		if seen[b] {
			p.add(path, "%q is listed twice", b)
		}
		seen[b] = true
	}
}

// ValidBucketName applies S3's bucket naming rules (the ones that matter for path-style
// addressing: length, characters, no "..", not an IP address).
func ValidBucketName(b string) bool {
	return bucketRe.MatchString(b) && !strings.Contains(b, "..") && !ipLikeRe.MatchString(b) &&
		!strings.Contains(b, ".-") && !strings.Contains(b, "-.")
}

func (c *Config) validateObjects(p *problems) {
	switch c.Objects.Backend {
	case "filesystem":
	case "s3":
		s := c.Objects.S3
		if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("objects.s3.endpoint", "must be the upstream's http(s):// URL, got %q", s.Endpoint)
		}
		if s.Region == "" {
			p.add("objects.s3.region", "is required with backend s3")
		}
		if s.AccessKeyID == "" {
			p.add("objects.s3.access_key_id", "is required with backend s3")
		}
		if s.SecretAccessKeyFile == "" {
			p.add("objects.s3.secret_access_key_file", "is required with backend s3 (a file holding the secret)")
		}
	default:
		p.add("objects.backend", "must be filesystem or s3, got %q", c.Objects.Backend)
	}
}

func (c *Config) validateOperatorKeys(p *problems) {
	seen := map[string]bool{}
	for i, k := range c.OperatorKeys {
		path := fmt.Sprintf("operator_keys[%d]", i)
		if !accessKeyIDRe.MatchString(k.AccessKeyID) || strings.HasPrefix(k.AccessKeyID, "ASIA") {
			p.add(path+".access_key_id", "must be 16 to 128 upper-case letters and digits, not starting with ASIA (reserved for temporary keys)")
		}
		if seen[k.AccessKeyID] {
			p.add(path+".access_key_id", "%q is listed twice", k.AccessKeyID)
		}
		seen[k.AccessKeyID] = true
		if k.SecretAccessKeyFile == "" {
			p.add(path+".secret_access_key_file", "is required (a file holding the secret; created if missing)")
		}
		if len(k.Policies) == 0 {
			p.add(path+".policies", "needs at least one policy: an operator key with none could do nothing")
		}
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ProviderARN is the IAM ARN of p in this account.
func (c *Config) ProviderARN(p Provider) string {
	return "arn:aws:iam::" + c.AccountID + ":oidc-provider/" + p.Host()
}

// RoleARN is the IAM ARN of r (with its path).
func (c *Config) RoleARN(r Role) string {
	return "arn:aws:iam::" + c.AccountID + ":role" + r.Path + r.Name
}

// RoleID is r's unique id: "AROA" and 17 upper-case letters and digits, derived from the
// account and role name so that every node and every restart agrees on it.
func (c *Config) RoleID(r Role) string {
	sum := sha256.Sum256([]byte("keyless-role-id\x00" + c.AccountID + "\x00" + strings.ToLower(r.Name)))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])
	return "AROA" + enc[:17]
}

// FindRole returns the role with this name (case-insensitively, as IAM does).
func (c *Config) FindRole(name string) (*Role, bool) {
	for i := range c.Roles {
		if strings.EqualFold(c.Roles[i].Name, name) {
			return &c.Roles[i], true
		}
	}
	return nil, false
}

// IssuerURL is the issuer URL of one of the built-in issuer's orgs.
func (c *Config) IssuerURL(org string) string {
	return c.PublicURL + "/-/oidc/org/" + org
}
