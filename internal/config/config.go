// Package config holds keyless's configuration: the YAML file of PRODUCT.md, decoded
// strictly, with defaults applied, relative paths resolved against the file's folder,
// every problem reported at once with its path, and policies parsed and compiled by the
// policy engine at load. A Config is plain data: no caches, clients or open files.
package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of one keylessd node.
type Config struct {
	AccountID             string        `yaml:"account_id"`
	Region                string        `yaml:"region"`
	Listen                string        `yaml:"listen"`
	PublicURL             string        `yaml:"public_url"`
	DataDir               string        `yaml:"data_dir"`
	DatabaseURL           string        `yaml:"database_url"`
	Dev                   bool          `yaml:"dev"`
	Issuer                Issuer        `yaml:"issuer"`
	Providers             []Provider    `yaml:"providers"`
	Roles                 []Role        `yaml:"roles"`
	Buckets               []string      `yaml:"buckets"`
	Objects               Objects       `yaml:"objects"`
	OperatorKeys          []OperatorKey `yaml:"operator_keys"`
	AWSCompatibleKeysOnly bool          `yaml:"aws_compatible_keys_only"`
	TLS                   TLS           `yaml:"tls"`
	S3                    S3            `yaml:"s3"`
	Audit                 Audit         `yaml:"audit"`
	RateLimits            RateLimits    `yaml:"rate_limits"`

	// Dir is the folder relative paths were resolved against (the config file's folder,
	// or the working directory for the dev defaults). Not read from YAML.
	Dir string `yaml:"-"`
}

// Issuer configures the built-in CI token issuer.
type Issuer struct {
	Enabled        *bool    `yaml:"enabled"` // nil means true
	Orgs           []string `yaml:"orgs"`
	Algorithm      string   `yaml:"algorithm"`
	TokenTTL       Duration `yaml:"token_ttl"`
	RotateEvery    Duration `yaml:"rotate_every"`
	MintSecretFile string   `yaml:"mint_secret_file"`
}

// On reports whether the issuer runs (it does unless enabled is set to false).
func (i Issuer) On() bool { return i.Enabled == nil || *i.Enabled }

// Provider is an IAM OpenID Connect provider: the issuers whose tokens STS accepts.
type Provider struct {
	URL         string   `yaml:"url"`
	ClientIDs   []string `yaml:"client_ids"`
	Thumbprints []string `yaml:"thumbprints"`
}

// Host is the provider URL without its scheme: the provider ARN's resource and the
// prefix of its condition keys (AWS-WIRE 2.2), kept byte for byte.
func (p Provider) Host() string {
	if h, ok := strings.CutPrefix(p.URL, "https://"); ok {
		return h
	}
	h, _ := strings.CutPrefix(p.URL, "http://")
	return h
}

// Role is an IAM role that web identities may assume.
type Role struct {
	Name               string                  `yaml:"name"`
	Path               string                  `yaml:"path"`
	MaxSessionDuration Duration                `yaml:"max_session_duration"`
	TrustPolicy        PolicySource            `yaml:"trust_policy"`
	Policies           []NamedPolicy           `yaml:"-"`
	RawPolicies        map[string]PolicySource `yaml:"policies"`
}

// NamedPolicy is one of a role's (or operator key's) permission policies, in name order.
type NamedPolicy struct {
	Name   string
	Policy PolicySource
}

// Objects selects where object bytes live.
type Objects struct {
	Backend string `yaml:"backend"`
	// Dir is where the filesystem backend keeps objects (default data_dir/objects).
	// Only one node may use a directory at a time.
	Dir string    `yaml:"dir"`
	S3  S3Backend `yaml:"s3"`
}

// S3Backend is an upstream S3-compatible store that keyless proxies to.
type S3Backend struct {
	Endpoint            string `yaml:"endpoint"`
	Region              string `yaml:"region"`
	AccessKeyID         string `yaml:"access_key_id"`
	SecretAccessKeyFile string `yaml:"secret_access_key_file"`
}

// OperatorKey is a long-lived key for operators' own tools (never for CI jobs).
type OperatorKey struct {
	AccessKeyID         string                  `yaml:"access_key_id"`
	SecretAccessKeyFile string                  `yaml:"secret_access_key_file"`
	RawPolicies         map[string]PolicySource `yaml:"policies"`
	Policies            []NamedPolicy           `yaml:"-"`
}

// TLS makes the one port serve HTTPS.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether HTTPS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// S3 holds S3 front-end settings.
type S3 struct {
	Domain string `yaml:"domain"`
}

// Audit selects which S3 data events are recorded (STS events always are).
type Audit struct {
	S3Events string `yaml:"s3_events"`
}

// RateLimits are STS calls per second; 0 means no limit.
type RateLimits struct {
	PerSourceIP *float64 `yaml:"per_source_ip"`
	PerRole     *float64 `yaml:"per_role"`
}

// Duration is a time.Duration written as Go writes one ("1h", "720h", "90s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a string such as \"1h\"", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use forms such as 900s, 15m, 1h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
