package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration, at a path such as
// "roles[2].trust_policy".
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem found in one configuration; Load returns them all at once.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  " + p.String()
	}
	noun := "problems"
	if len(ps) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("configuration has %d %s:\n%s", len(ps), noun, strings.Join(lines, "\n"))
}

type problems struct{ list Problems }

func (p *problems) add(path, format string, args ...any) {
	p.list = append(p.list, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return p.list
}

// Load reads, decodes, completes and validates the configuration file at path, and
// loads and compiles every policy it names. On any problem it returns Problems listing
// them all, and no Config.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving configuration path: %w", err)
	}
	return Parse(data, filepath.Dir(abs))
}

// Parse is Load for configuration text whose relative paths resolve against dir.
func Parse(data []byte, dir string) (*Config, error) {
	var c Config
	var probs problems
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				probs.add("", "%s", strings.TrimPrefix(e, "yaml: "))
			}
		} else {
			probs.add("", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil, probs.err()
	}
	c.Dir = dir
	c.complete()
	c.validate(&probs)
	c.loadPolicies(&probs)
	if err := probs.err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// complete applies defaults and resolves relative paths. It never fails: validate
// judges the result.
func (c *Config) complete() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Region, "us-east-1")
	def(&c.Listen, "127.0.0.1:8700")
	if c.PublicURL == "" {
		scheme := "http"
		if c.TLS.Enabled() {
			scheme = "https"
		}
		c.PublicURL = scheme + "://" + c.Listen
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	def(&c.DataDir, "./keyless-data")
	c.DataDir = c.resolve(c.DataDir)
	def(&c.Issuer.Algorithm, "RS256")
	if c.Issuer.TokenTTL == 0 {
		c.Issuer.TokenTTL = Duration(time.Hour)
	}
	if c.Issuer.RotateEvery == 0 {
		c.Issuer.RotateEvery = Duration(720 * time.Hour)
	}
	if c.Issuer.MintSecretFile == "" {
		c.Issuer.MintSecretFile = filepath.Join(c.DataDir, "mint-secret")
	} else {
		c.Issuer.MintSecretFile = c.resolve(c.Issuer.MintSecretFile)
	}
	for i := range c.Roles {
		r := &c.Roles[i]
		if r.MaxSessionDuration == 0 {
			r.MaxSessionDuration = Duration(time.Hour)
		}
		def(&r.Path, "/")
		r.TrustPolicy.File = c.resolveIfSet(r.TrustPolicy.File)
		r.Policies = c.named(r.RawPolicies)
	}
	for i := range c.OperatorKeys {
		k := &c.OperatorKeys[i]
		k.SecretAccessKeyFile = c.resolveIfSet(k.SecretAccessKeyFile)
		k.Policies = c.named(k.RawPolicies)
	}
	def(&c.Objects.Backend, "filesystem")
	if c.Objects.Dir == "" {
		c.Objects.Dir = filepath.Join(c.DataDir, "objects")
	} else {
		c.Objects.Dir = c.resolve(c.Objects.Dir)
	}
	c.Objects.S3.SecretAccessKeyFile = c.resolveIfSet(c.Objects.S3.SecretAccessKeyFile)
	c.TLS.CertFile = c.resolveIfSet(c.TLS.CertFile)
	c.TLS.KeyFile = c.resolveIfSet(c.TLS.KeyFile)
	def(&c.Audit.S3Events, "all")
	if c.RateLimits.PerSourceIP == nil {
		v := 100.0
		c.RateLimits.PerSourceIP = &v
	}
	if c.RateLimits.PerRole == nil {
		v := 1000.0
		c.RateLimits.PerRole = &v
	}
}

func (c *Config) named(raw map[string]PolicySource) []NamedPolicy {
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]NamedPolicy, 0, len(names))
	for _, n := range names {
		p := raw[n]
		p.File = c.resolveIfSet(p.File)
		out = append(out, NamedPolicy{Name: n, Policy: p})
	}
	return out
}

func (c *Config) resolve(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.Dir, p)
}

func (c *Config) resolveIfSet(p string) string {
	if p == "" {
		return ""
	}
	return c.resolve(p)
}
