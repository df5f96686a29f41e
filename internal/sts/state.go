package sts

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/policy"
)

// state is what one configuration means to STS, pre-computed so that a call does no
// lookups beyond two map reads. It is immutable once built.
type state struct {
	accountID   string
	region      string
	dev         bool
	awsKeysOnly bool
	perIP       float64 // calls per second; 0 = no limit
	perRole     float64
	roles       map[string]*role     // by lower-case name
	providers   map[string]*provider // by URL (the token's iss)
}

type role struct {
	name       string
	path       string
	arn        string
	id         string
	maxSession time.Duration
	trust      *policy.Policy
	limitKey   string
}

type provider struct {
	url       string
	arn       string
	principal policy.Principal
}

func newState(cfg *config.Config) (*state, error) {
	if cfg == nil {
		return nil, errors.New("sts: no configuration")
	}
	st := &state{
		accountID:   cfg.AccountID,
		region:      cfg.Region,
		dev:         cfg.Dev,
		awsKeysOnly: cfg.AWSCompatibleKeysOnly,
		roles:       make(map[string]*role, len(cfg.Roles)),
		providers:   make(map[string]*provider, len(cfg.Providers)),
	}
	if v := cfg.RateLimits.PerSourceIP; v != nil {
		st.perIP = *v
	}
	if v := cfg.RateLimits.PerRole; v != nil {
		st.perRole = *v
	}
	for _, r := range cfg.Roles {
		if r.TrustPolicy.Compiled == nil {
			return nil, fmt.Errorf("sts: role %s has no compiled trust policy", r.Name)
		}
		path := r.Path
		if path == "" {
			path = "/"
		}
		rr := r
		rr.Path = path
		st.roles[strings.ToLower(r.Name)] = &role{
			name:       r.Name,
			path:       path,
			arn:        cfg.RoleARN(rr),
			id:         cfg.RoleID(rr),
			maxSession: r.MaxSessionDuration.D(),
			trust:      r.TrustPolicy.Compiled,
			limitKey:   strings.ToLower(r.Name),
		}
	}
	for _, p := range cfg.Providers {
		arn := cfg.ProviderARN(p)
		st.providers[p.URL] = &provider{url: p.URL, arn: arn,
			principal: policy.Principal{Type: "Federated", Value: arn}}
	}
	return st, nil
}

// roleARN is a parsed RoleArn parameter.
type roleARN struct {
	partition string
	account   string
	path      string // "/" or "/a/b/"
	name      string
}

// parseRoleARN parses arn:aws:iam::ACCOUNT:role[/path/]NAME. ok is false for anything
// else (AWS answers "Request ARN is invalid").
func parseRoleARN(s string) (roleARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" {
		return roleARN{}, false
	}
	switch parts[1] {
	case "aws", "aws-cn", "aws-us-gov":
	default:
		return roleARN{}, false
	}
	if !isAccountID(parts[4]) {
		return roleARN{}, false
	}
	res, ok := strings.CutPrefix(parts[5], "role/")
	if !ok {
		return roleARN{}, false
	}
	i := strings.LastIndexByte(res, '/')
	path, name := "/"+res[:i+1], res[i+1:]
	if i < 0 {
		path = "/"
	}
	if name == "" || len(name) > 64 || !isRoleName(name) || strings.Contains(path, "//") {
		return roleARN{}, false
	}
	return roleARN{partition: parts[1], account: parts[4], path: path, name: name}, true
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isRoleName applies IAM's [\w+=,.@-]+.
func isRoleName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return s != ""
}

// isNameByte is [\w+=,.@-] (\w being ASCII letters, digits and underscore).
func isNameByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("_+=,.@-", c) >= 0
}

// findRole returns the configured role an ARN names, in this account, with this path.
func (st *state) findRole(a roleARN) (*role, bool) {
	if a.partition != "aws" || a.account != st.accountID {
		return nil, false
	}
	r, ok := st.roles[strings.ToLower(a.name)]
	if !ok || r.path != a.path {
		return nil, false
	}
	return r, true
}
