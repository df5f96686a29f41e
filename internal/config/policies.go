package config

import (
	"fmt"
	"os"

	"github.com/keyless-dev/keyless/internal/policy"
)

// Compiled is a policy compiled by the policy engine.
type Compiled = *policy.Policy

// maxPolicyFile bounds a policy file read at load (IAM's largest document is 131072 chars).
const maxPolicyFile = 1 << 20

// loadPolicies reads every policy file, then parses, validates and compiles every
// policy by kind, recording each failure at its configuration path.
func (c *Config) loadPolicies(p *problems) {
	for i := range c.Roles {
		r := &c.Roles[i]
		path := fmt.Sprintf("roles[%d]", i)
		if r.TrustPolicy.File != "" || len(r.TrustPolicy.JSON) > 0 {
			loadPolicy(&r.TrustPolicy, policy.KindTrust, path+".trust_policy", p)
		}
		for j := range r.Policies {
			np := &r.Policies[j]
			loadPolicy(&np.Policy, policy.KindIdentity, fmt.Sprintf("%s.policies.%s", path, np.Name), p)
		}
	}
	for i := range c.OperatorKeys {
		k := &c.OperatorKeys[i]
		for j := range k.Policies {
			np := &k.Policies[j]
			loadPolicy(&np.Policy, policy.KindIdentity, fmt.Sprintf("operator_keys[%d].policies.%s", i, np.Name), p)
		}
	}
}

func loadPolicy(ps *PolicySource, kind policy.Kind, path string, p *problems) {
	if ps.File != "" {
		st, err := os.Stat(ps.File)
		if err != nil {
			p.add(path, "cannot read policy file: %v", err)
			return
		}
		if st.Size() > maxPolicyFile {
			p.add(path, "policy file %s is larger than %d bytes", ps.File, maxPolicyFile)
			return
		}
		data, err := os.ReadFile(ps.File)
		if err != nil {
			p.add(path, "cannot read policy file: %v", err)
			return
		}
		ps.JSON = data
	}
	compiled, err := policy.ParseAndCompile(ps.JSON, kind)
	if err != nil {
		p.add(path, "%s: %v", ps.Name(), err)
		return
	}
	ps.Compiled = compiled
}
