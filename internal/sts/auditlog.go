package sts

import (
	"context"
	"time"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/credentials"
)

// cloudTrailTime is CloudTrail's Java-style responseElements time format.
const cloudTrailTime = "Jan 2, 2006, 3:04:05 PM"

// recordAssume writes the call's audit event (AWS-WIRE 7) and waits for its commit. It
// never records the token, the secret or the session token.
func (h *Handler) recordAssume(ctx context.Context, c *call, o *assumeOutcome, callErr error) error {
	roleName, subject := "", ""
	if o.role != nil {
		roleName = o.role.name
	} else if o.in != nil {
		roleName = o.in.arn.name
	}
	if o.id != nil {
		subject = o.id.Subject
	}
	ev := audit.New(c.now, audit.SourceSTS, "AssumeRoleWithWebIdentity", c.requestID, roleName, subject)
	h.envelope(ev, c)
	ev.UserIdentity = audit.UserIdentity{Type: "WebIdentityUser"}
	if o.id != nil {
		ev.UserIdentity.UserName = o.id.Subject
		if o.prov != nil {
			ev.UserIdentity.PrincipalID = o.prov.arn + ":" + o.id.Audience + ":" + o.id.Subject
			ev.UserIdentity.IdentityProvider = o.prov.arn
		}
	}
	ev.RequestParameters = assumeParams(c, o)
	if o.role != nil {
		ev.Resources = []audit.Resource{{AccountID: c.st.accountID, Type: "AWS::IAM::Role", ARN: o.role.arn}}
	}
	decision := o.decision
	if callErr != nil {
		we := wireError(callErr, false)
		ev.ErrorCode, ev.ErrorMessage = we.Code, we.Message
		if decision == nil || decision.Effect == audit.Allow {
			decision = &audit.Decision{Effect: audit.Deny, Reason: callErr.Error()}
		}
	} else {
		ev.ResponseElements = assumeResponse(o)
		ev.Keyless.SessionID = o.sess.SessionID
	}
	ev.Keyless.Decision = decision
	if err := h.audit.Record(ctx, ev); err != nil {
		return &auditError{Err: err}
	}
	return nil
}

func assumeParams(c *call, o *assumeOutcome) map[string]any {
	p := map[string]any{}
	if o.in == nil {
		// Not validated: keep what identifies the call, never the token.
		for _, k := range [...]string{"RoleArn", "RoleSessionName", "DurationSeconds"} {
			if v, ok := c.params[k]; ok {
				p[lowerFirst(k)] = truncate(v, 2048)
			}
		}
		return p
	}
	p["roleArn"] = o.in.roleARN
	p["roleSessionName"] = o.in.sessionName
	if o.in.durationGiven {
		p["durationSeconds"] = int(o.in.duration / time.Second)
	}
	if o.in.policy != "" {
		p["policy"] = o.in.policy
	}
	if t := o.tags; t != nil {
		tags := make(map[string]string, len(t.tags))
		for _, tag := range t.tags {
			tags[tag.Key] = tag.Value
		}
		p["principalTags"] = tags
		if len(t.transitive) > 0 {
			p["transitiveTagKeys"] = t.transitive
		}
	}
	if o.sourceIdentity != "" {
		p["sourceIdentity"] = o.sourceIdentity
	}
	return p
}

func assumeResponse(o *assumeOutcome) map[string]any {
	r := o.res
	resp := map[string]any{
		"credentials": map[string]any{
			"accessKeyId":  r.AccessKeyID,
			"sessionToken": "", // as CloudTrail shows it: never the token itself
			"expiration":   r.Expiration.UTC().Format(cloudTrailTime),
		},
		"subjectFromWebIdentityToken": r.Subject,
		"assumedRoleUser":             map[string]any{"assumedRoleId": r.AssumedRoleID, "arn": r.ARN},
		"provider":                    r.Provider,
		"audience":                    r.Audience,
	}
	if r.PackedPolicySize >= 0 {
		resp["packedPolicySize"] = r.PackedPolicySize
	}
	if r.SourceIdentity != "" {
		resp["sourceIdentity"] = r.SourceIdentity
	}
	return resp
}

// recordCaller writes GetCallerIdentity's audit event.
func (h *Handler) recordCaller(ctx context.Context, c *call, sess *credentials.Session, callErr error) error {
	roleName, subject := "", ""
	if sess != nil {
		roleName, subject = sess.RoleName(), sess.Subject
	}
	ev := audit.New(c.now, audit.SourceSTS, "GetCallerIdentity", c.requestID, roleName, subject)
	h.envelope(ev, c)
	ev.UserIdentity = audit.UserIdentity{Type: "Unknown"}
	if sess != nil {
		ev.UserIdentity = audit.UserIdentity{Type: "AssumedRole", PrincipalID: sess.AssumedRoleID(),
			ARN: sess.AssumedRoleARN(), AccountID: sess.Account(), AccessKeyID: sess.AccessKeyID}
		ev.Keyless.SessionID = sess.SessionID
	}
	ev.RequestParameters = map[string]any{}
	if callErr != nil {
		we := wireError(callErr, false)
		ev.ErrorCode, ev.ErrorMessage = we.Code, we.Message
		ev.Keyless.Decision = &audit.Decision{Effect: audit.Deny, Reason: callErr.Error()}
	} else {
		ev.Keyless.Decision = &audit.Decision{Effect: audit.Allow, Reason: "signed with the session's credentials"}
	}
	if err := h.audit.Record(ctx, ev); err != nil {
		return &auditError{Err: err}
	}
	return nil
}

func (h *Handler) envelope(ev *audit.Event, c *call) {
	ev.AWSRegion = c.st.region
	ev.SourceIPAddress = c.sourceIP
	ev.UserAgent = truncate(c.userAgent, 1024)
	ev.RecipientAccountID = c.st.accountID
	ev.ReadOnly = true
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]|0x20) + s[1:]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
