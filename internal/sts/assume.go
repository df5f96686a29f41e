package sts

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/policy"
)

// Trust-policy actions (AWS-WIRE 4.1).
const (
	actionAssume         = "sts:AssumeRoleWithWebIdentity"
	actionTagSession     = "sts:TagSession"
	actionSourceIdentity = "sts:SetSourceIdentity"
)

// assumeOutcome is what one AssumeRoleWithWebIdentity call found out, for its audit event.
type assumeOutcome struct {
	in             *assumeInput
	role           *role
	id             *idtoken.Identity
	prov           *provider
	tags           *sessionTags
	sourceIdentity string
	sess           *credentials.Session
	res            *assumeResult
	decision       *audit.Decision
}

// assumeRoleWithWebIdentity is the action: AWS-WIRE 2.1's steps, then one audit event,
// committed before the answer (an unaudited call fails).
func (h *Handler) assumeRoleWithWebIdentity(ctx context.Context, c *call) (result, error) {
	o := &assumeOutcome{}
	err := h.assume(ctx, c, o)
	if err == errThrottled {
		return nil, err // not audited: a flood must not turn into audit writes
	}
	if aerr := h.recordAssume(ctx, c, o, err); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	return o.res, nil
}

func (h *Handler) assume(ctx context.Context, c *call, o *assumeOutcome) error {
	in, err := parseAssumeInput(c.params)
	if err != nil {
		return err
	}
	o.in = in
	r, known := c.st.findRole(in.arn)
	if known {
		o.role = r
		if !h.perRole.allow(r.limitKey, c.st.perRole, c.now) {
			return errThrottled
		}
	}
	if in.providerID != "" {
		return &paramError{Message: "ProviderId is only for OAuth 2.0 access tokens of www.amazon.com and graph.facebook.com; leave it out for OpenID Connect ID tokens."}
	}
	if len(in.policyARNs) > 0 {
		return &paramError{Message: "Policy " + in.policyARNs[0] + " does not exist or is not attachable: keyless has no managed policies; pass an inline Policy instead."}
	}
	id, err := h.verifier.Load().v.Verify(ctx, in.token)
	if err != nil {
		return err
	}
	o.id = id
	prov, ok := c.st.providers[id.Issuer]
	if !ok {
		return &idtoken.Error{Kind: idtoken.KindUnknownProvider, Issuer: id.Issuer,
			Detail: "the issuer is no longer a configured provider"}
	}
	o.prov = prov
	if !known {
		reason := "role " + in.roleARN + " does not exist"
		o.decision = &audit.Decision{Effect: audit.Deny, Reason: reason}
		return &deniedError{Reason: reason}
	}
	if o.tags, err = parseSessionTags(id.Claims); err != nil {
		return err
	}
	if o.sourceIdentity, err = parseSourceIdentity(id.Claims); err != nil {
		return err
	}
	if err := authorize(c, o); err != nil {
		return err
	}
	if in.duration > r.maxSession {
		return errDurationTooLong
	}
	if in.policy != "" {
		if _, err := policy.ParseAndCompile([]byte(in.policy), policy.KindSession); err != nil {
			return &policyError{Err: err}
		}
	}
	return h.mint(c, o)
}

// authorize evaluates the role's trust policy for sts:AssumeRoleWithWebIdentity, and
// for sts:TagSession and sts:SetSourceIdentity when the token asks for them. A denial
// carries the full trace to the audit event and a one-line reason to the error.
func authorize(c *call, o *assumeOutcome) error {
	req := &policy.Request{
		Principal: o.prov.principal,
		Action:    actionAssume,
		Resource:  o.role.arn,
		Context:   conditionKeys(c, o),
	}
	actions := [3]string{actionAssume}
	n := 1
	if o.tags != nil {
		actions[n] = actionTagSession
		n++
	}
	if o.sourceIdentity != "" {
		actions[n] = actionSourceIdentity
		n++
	}
	for _, a := range actions[:n] {
		req.Action = a
		if policy.Evaluate(req, o.role.trust) == policy.Allow {
			continue
		}
		_, trace := policy.Explain(req, o.role.trust)
		reason := denyReason(a, trace)
		o.decision = &audit.Decision{Effect: audit.Deny, Reason: reason, Trace: trace}
		return &deniedError{Reason: reason}
	}
	o.decision = &audit.Decision{Effect: audit.Allow, Reason: "allowed by the trust policy of role " + o.role.name}
	return nil
}

// trustContext is the trust policy's context (AWS-WIRE 4.2): the call's own keys first,
// answered when looked up (a policy reads a few of them, so building a map of all of
// them on every call was wasted), then the tag and source-identity keys of a call that
// has them, then the identity's keys, which idtoken computes once per verified identity
// and shares (read-only; see idtoken.Identity.PolicyConditionKeys), so a call copies
// none of them.
type trustContext struct {
	c      *call
	o      *assumeOutcome
	extra  policy.Keys                       // nil unless the call has session tags or a source identity
	claims map[string]idtoken.ConditionValue // names lower-case
}

// Lookup implements policy.Context; key is lower-case.
func (t *trustContext) Lookup(key string) ([]string, bool) {
	if v, ok := t.callKey(key); ok {
		return v, true
	}
	if v, ok := t.extra[key]; ok {
		return v, true
	}
	cv, ok := t.claims[key]
	return cv.Values, ok
}

// callKey answers the sts: and global keys every call has; literal names are lower-case.
func (t *trustContext) callKey(key string) ([]string, bool) {
	c, o := t.c, t.o
	switch key {
	case "sts:rolesessionname":
		return []string{o.in.sessionName}, true
	case "aws:federatedprovider":
		return []string{o.prov.arn}, true
	case "aws:principaltype":
		return []string{"WebIdentityUser"}, true
	case "aws:currenttime":
		return []string{c.now.UTC().Format(time.RFC3339)}, true
	case "aws:epochtime":
		return []string{strconv.FormatInt(c.now.Unix(), 10)}, true
	case "aws:securetransport":
		return []string{strconv.FormatBool(c.secure)}, true
	case "aws:requestedregion":
		return []string{c.st.region}, true
	case "aws:sourceip":
		if _, err := netip.ParseAddr(c.sourceIP); err == nil {
			return []string{c.sourceIP}, true
		}
	case "aws:useragent":
		if c.userAgent != "" {
			return []string{c.userAgent}, true
		}
	}
	return nil, false
}

// conditionKeys builds the trust-policy context of AWS-WIRE 4.2: the provider's keys
// (every claim unless aws_compatible_keys_only), the sts: keys and the global keys.
func conditionKeys(c *call, o *assumeOutcome) policy.Context {
	t := &trustContext{c: c, o: o, claims: o.id.PolicyConditionKeys(c.st.awsKeysOnly)}
	if tg := o.tags; tg != nil {
		t.extra = make(policy.Keys, 3+len(tg.tags))
		names := make([]string, len(tg.tags))
		for i, tag := range tg.tags {
			t.extra.Set("aws:RequestTag/"+tag.Key, tag.Value)
			names[i] = tag.Key
		}
		t.extra.Set("aws:TagKeys", names...)
		t.extra.Set("sts:TransitiveTagKeys", tg.transitive...)
	}
	if o.sourceIdentity != "" {
		if t.extra == nil {
			t.extra = make(policy.Keys, 1)
		}
		t.extra.Set("sts:SourceIdentity", o.sourceIdentity)
	}
	return t
}

// mint seals the session into its token and builds the answer.
func (h *Handler) mint(c *call, o *assumeOutcome) error {
	now := c.now.UTC()
	sess := &credentials.Session{
		AccessKeyID:     credentials.NewAccessKeyID(),
		SecretAccessKey: credentials.NewSecretAccessKey(),
		SessionID:       credentials.NewSessionID(),
		RoleARN:         o.role.arn,
		RoleID:          o.role.id,
		SessionName:     o.in.sessionName,
		Subject:         o.id.Subject,
		Provider:        o.prov.arn,
		Audience:        o.id.Audience,
		AMR:             o.id.AMR,
		SessionPolicy:   o.in.policy,
		SourceIdentity:  o.sourceIdentity,
		IssuedAt:        now,
		Expiration:      now.Add(o.in.duration).Truncate(time.Second),
	}
	if o.tags != nil {
		sess.Tags, sess.TransitiveTagKeys = o.tags.tags, o.tags.transitive
	}
	token, err := h.sealer.Seal(sess)
	if err != nil {
		return err
	}
	o.sess = sess
	o.res = &assumeResult{
		Audience:         o.id.Audience,
		AssumedRoleID:    sess.AssumedRoleID(),
		ARN:              sess.AssumedRoleARN(),
		Provider:         o.prov.arn,
		AccessKeyID:      sess.AccessKeyID,
		SecretAccessKey:  sess.SecretAccessKey,
		SessionToken:     token,
		Expiration:       sess.Expiration,
		Subject:          o.id.Subject,
		PackedPolicySize: -1,
		SourceIdentity:   o.sourceIdentity,
	}
	if o.in.policy != "" || o.tags != nil {
		// Our packed form is the sealed token: report how much of its budget it uses.
		o.res.PackedPolicySize = o.res.utilization()
	}
	return nil
}
