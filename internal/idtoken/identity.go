package idtoken

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Identity is what a verified token proves.
type Identity struct {
	// Issuer is iss as written in the token (equal to Provider.URL).
	Issuer string
	// Provider is the matched configuration entry.
	Provider Provider
	// ProviderHost is Provider.URL without its scheme: the provider ARN's
	// resource and the condition-key prefix.
	ProviderHost string
	Subject      string
	// Audience is the client id that matched (from aud, else azp).
	Audience string
	// AudienceClaim is every value of the token's aud claim.
	AudienceClaim []string
	AZP           string
	AMR           []string
	IssuedAt      time.Time // zero when the token has no iat
	NotBefore     time.Time // zero when the token has no nbf
	Expiry        time.Time
	KeyID         string
	Algorithm     string
	JTI           string
	// Claims holds every claim, numbers as json.Number.
	Claims map[string]any

	// keys memoizes ConditionKeys and PolicyConditionKeys (indexed by memoIndex) for
	// identities made by Verify, which may be answered many times from the
	// verified-token cache.
	keys *keysMemo
}

type keysMemo [4]atomic.Pointer[map[string]ConditionValue]

func memoIndex(awsCompatibleOnly, lower bool) int {
	i := 0
	if awsCompatibleOnly {
		i = 1
	}
	if lower {
		i += 2
	}
	return i
}

// memo returns build()'s map, computed once per identity and slot when id was made
// by Verify.
func (id *Identity) memo(i int, build func() map[string]ConditionValue) map[string]ConditionValue {
	if id.keys == nil {
		return build()
	}
	if m := id.keys[i].Load(); m != nil {
		return *m
	}
	m := build()
	id.keys[i].Store(&m)
	return m
}

// checkClaims checks the time claims, the audience and sub, after the
// signature has been verified.
func (v *Verifier) checkClaims(p *provider, tok *token) (*Identity, error) {
	c := tok.claims
	now := v.now()
	exp, ok, err := timeClaim(c, "exp")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Error{Kind: KindMissingClaim, Claim: "exp", Detail: "no exp"}
	}
	if now.After(exp.Add(v.leeway)) {
		return nil, &Error{Kind: KindExpired, Now: now, Expiry: exp,
			Detail: fmt.Sprintf("exp %d is before now %d minus leeway", exp.Unix(), now.Unix())}
	}
	id := &Identity{Expiry: exp, Claims: c, KeyID: tok.kid, Algorithm: tok.alg, keys: &keysMemo{}}
	for _, tc := range []struct {
		name string
		dst  *time.Time
	}{{"nbf", &id.NotBefore}, {"iat", &id.IssuedAt}} {
		t, ok, err := timeClaim(c, tc.name)
		if err != nil {
			return nil, err
		}
		if ok && t.After(now.Add(v.leeway)) {
			return nil, &Error{Kind: KindNotYetValid, Now: now, Expiry: t,
				Detail: fmt.Sprintf("%s %d is after now %d plus leeway", tc.name, t.Unix(), now.Unix())}
		}
		*tc.dst = t
	}
	if err := checkAudience(p.cfg, c, id); err != nil {
		return nil, err
	}
	sub, ok, err := stringClaim(c, "sub")
	if err != nil {
		return nil, err
	}
	if !ok || sub == "" {
		return nil, &Error{Kind: KindMissingClaim, Claim: "sub", Detail: "no sub"}
	}
	id.Subject = sub
	if id.AMR, _, err = stringsClaim(c, "amr"); err != nil {
		return nil, err
	}
	if id.JTI, _, err = stringClaim(c, "jti"); err != nil {
		return nil, err
	}
	id.Issuer, id.Provider, id.ProviderHost = p.cfg.URL, p.cfg, p.cfg.Host()
	return id, nil
}

// checkAudience accepts the token when an aud value, or else azp, is one
// of the provider's client ids (AWS-WIRE 2.3). aud itself is required.
func checkAudience(p Provider, c map[string]any, id *Identity) error {
	aud, _, err := stringsClaim(c, "aud")
	if err != nil {
		return err
	}
	aud = slices.DeleteFunc(aud, func(s string) bool { return s == "" })
	if len(aud) == 0 {
		return &Error{Kind: KindMissingClaim, Claim: "aud", Detail: "no aud"}
	}
	azp, _, err := stringClaim(c, "azp")
	if err != nil {
		return err
	}
	id.AudienceClaim, id.AZP = aud, azp
	for _, a := range aud {
		if slices.Contains(p.ClientIDs, a) {
			id.Audience = a
			return nil
		}
	}
	if azp != "" && slices.Contains(p.ClientIDs, azp) {
		id.Audience = azp
		return nil
	}
	return &Error{Kind: KindIncorrectAudience, Detail: fmt.Sprintf("aud %q, azp %q not among client ids", aud, azp)}
}

// ConditionValue is the value of one condition key: a single value, or a
// multi-valued key (for ForAnyValue/ForAllValues), possibly empty.
type ConditionValue struct {
	Values      []string
	MultiValued bool
}

// tagsClaim carries session tags; STS handles it, it is never a key.
const tagsClaim = "https://aws.amazon.com/tags"

// ConditionKeys returns the trust-policy condition keys this identity
// provides, named "<ProviderHost>:<claim>": aud (the matched client id),
// sub, azp and amr (multi-valued) as AWS does, plus (Google) oaud. With
// awsCompatibleOnly, other claims only where AWS provides them natively
// (AWSProvidesKey); otherwise every other claim: strings as they are,
// booleans "true"/"false", numbers as their JSON text, arrays multi-valued
// (their object or array elements skipped). Objects and nulls are skipped,
// and so is the session-tags claim. The map and its values are computed once per
// identity and shared: callers must not modify them.
func (id *Identity) ConditionKeys(awsCompatibleOnly bool) map[string]ConditionValue {
	return id.memo(memoIndex(awsCompatibleOnly, false), func() map[string]ConditionValue {
		return id.conditionKeys(awsCompatibleOnly)
	})
}

// PolicyConditionKeys returns ConditionKeys with every name lower-cased, as policy
// evaluation looks condition keys up (IAM matches key names case-insensitively). When
// names differ only in case, the greatest in byte order wins (so the lower-case
// spelling of a claim, when the token has it, since lower-case letters sort after
// upper-case ones): a deterministic choice whatever the map order. Like
// ConditionKeys, the map is computed once per identity and shared: callers must not
// modify it.
func (id *Identity) PolicyConditionKeys(awsCompatibleOnly bool) map[string]ConditionValue {
	return id.memo(memoIndex(awsCompatibleOnly, true), func() map[string]ConditionValue {
		keys := id.ConditionKeys(awsCompatibleOnly)
		lower := make(map[string]ConditionValue, len(keys))
		var mixed []string // names with an upper-case letter: rare
		for k, v := range keys {
			if strings.ToLower(k) == k { // no allocation for a lower-case name
				lower[k] = v
			} else {
				mixed = append(mixed, k)
			}
		}
		// A lower-case name is the greatest of its spellings, so it stays; among the
		// others, in ascending order, the last (greatest) one set wins.
		slices.Sort(mixed)
		for _, k := range mixed {
			lk := strings.ToLower(k)
			if _, exact := keys[lk]; !exact {
				lower[lk] = keys[k]
			}
		}
		return lower
	})
}

func (id *Identity) conditionKeys(awsCompatibleOnly bool) map[string]ConditionValue {
	prefix := id.ProviderHost + ":"
	keys := map[string]ConditionValue{
		prefix + "aud": {Values: []string{id.Audience}},
		prefix + "sub": {Values: []string{id.Subject}},
	}
	if id.AZP != "" {
		keys[prefix+"azp"] = ConditionValue{Values: []string{id.AZP}}
	}
	if id.AMR != nil {
		keys[prefix+"amr"] = ConditionValue{Values: slices.Clone(id.AMR), MultiValued: true}
	}
	if id.ProviderHost == googleHost {
		// AWS-WIRE 2.3: aud is azp when set, oaud the token's aud.
		keys[prefix+"oaud"] = ConditionValue{Values: []string{id.Audience}}
		if id.AZP != "" {
			keys[prefix+"aud"] = ConditionValue{Values: []string{id.AZP}}
		}
	}
	for name, raw := range id.Claims {
		switch name {
		case "aud", "sub", "azp", "amr", tagsClaim:
			continue
		}
		if _, done := keys[prefix+name]; done {
			continue
		}
		if awsCompatibleOnly && !AWSProvidesKey(id.ProviderHost, name) {
			continue
		}
		if cv, ok := claimValue(raw); ok {
			keys[prefix+name] = cv
		}
	}
	return keys
}

// claimValue converts one claim to a condition value; ok is false for
// claims that have none (objects, null).
func claimValue(v any) (ConditionValue, bool) {
	if arr, ok := v.([]any); ok {
		cv := ConditionValue{Values: make([]string, 0, len(arr)), MultiValued: true}
		for _, e := range arr {
			if s, ok := scalarString(e); ok {
				cv.Values = append(cv.Values, s)
			}
		}
		return cv, true
	}
	s, ok := scalarString(v)
	if !ok {
		return ConditionValue{}, false
	}
	return ConditionValue{Values: []string{s}}, true
}

func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

const (
	googleHost   = "accounts.google.com"
	githubHost   = "token.actions.githubusercontent.com"
	circleCIHost = "oidc.circleci.com/org/"
)

// Claims AWS STS exposes natively as condition keys for some providers
// (AWS-WIRE 4.2 and 11). The CircleCI names are UNCONFIRMED there.
var (
	awsStandardClaims = []string{"aud", "sub", "amr", "azp"}
	awsGitHubClaims   = []string{"actor", "actor_id", "job_workflow_ref", "repository",
		"repository_id", "workflow", "ref", "environment", "enterprise_id"}
	awsCircleCIClaims = []string{"oidc.circleci.com/project-id", "oidc.circleci.com/vcs-origin",
		"oidc.circleci.com/vcs-ref", "oidc.circleci.com/context-ids", "oidc.circleci.com/ssh-rerun"}
)

// AWSProvidesKey reports whether AWS STS itself provides the condition key
// "<providerHost>:<claim>" during AssumeRoleWithWebIdentity: aud, sub, amr
// and azp for every provider, oaud for Google, and the provider-specific
// claims AWS added in 2026 for GitHub Actions and CircleCI. The policy
// linter uses it for its "would not work on AWS" warning.
func AWSProvidesKey(providerHost, claim string) bool {
	switch {
	case slices.Contains(awsStandardClaims, claim):
		return true
	case providerHost == googleHost:
		return claim == "oaud"
	case providerHost == githubHost:
		return slices.Contains(awsGitHubClaims, claim)
	case strings.HasPrefix(providerHost, circleCIHost):
		return slices.Contains(awsCircleCIClaims, claim)
	}
	return false
}
