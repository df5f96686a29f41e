package s3gw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/keyless-dev/keyless/internal/audit"
)

// Values of audit.s3_events.
const (
	auditAll    = "all"
	auditWrites = "writes"
	auditDenied = "denied"
)

// record writes the request's data event when audit.s3_events selects it: a refused
// request (err != nil) is always recorded; "writes" skips allowed reads; "denied"
// skips every allowed request. It returns errAuditUnavailable if the sink fails: the
// request must then not be served.
func (g *Gateway) record(ctx context.Context, c *call, failure error) error {
	mode := c.st.cfg.Audit.S3Events
	if failure == nil && (mode == auditDenied || (mode == auditWrites && c.req.Op.readOnly())) {
		return nil
	}
	ev := g.event(c, failure)
	record := g.sink.Record
	if ds, ok := g.sink.(audit.DeferredSink); ok && failure == nil && c.req.Op.deferrable() {
		// An allowed read changes nothing: its event is written before the answer but
		// committed with the next group commit, without holding the request
		// (docs/audit.md, "Deferred events").
		record = ds.RecordDeferred
	}
	if err := record(ctx, ev); err != nil {
		g.log.LogAttrs(ctx, slog.LevelError, "audit record failed", slog.String("request_id", c.reqID),
			slog.Any("cause", err))
		return fmt.Errorf("%w: %w", errAuditUnavailable, err)
	}
	return nil
}

// event builds the CloudTrail-shaped data event of c.
func (g *Gateway) event(c *call, failure error) *audit.Event {
	var role, subject, sessionID string
	if c.p != nil && c.p.session != nil {
		role, subject, sessionID = c.p.session.RoleName(), c.p.session.Subject, c.p.session.SessionID
	}
	name := c.req.Op.String()
	ev := audit.New(c.now, audit.SourceS3, name, c.reqID, role, subject)
	ev.AWSRegion = c.st.cfg.Region
	ev.SourceIPAddress = sourceIP(c.r.RemoteAddr)
	ev.UserAgent = c.r.UserAgent()
	ev.ReadOnly = c.req.Op.readOnly()
	ev.RecipientAccountID = c.st.cfg.AccountID
	ev.UserIdentity = g.userIdentity(c)
	ev.Keyless.SessionID = sessionID
	ev.RequestParameters = map[string]any{"Host": c.r.Host}
	if c.req.Bucket != "" {
		ev.RequestParameters["bucketName"] = c.req.Bucket
		ev.Resources = append(ev.Resources, audit.Resource{Type: "AWS::S3::Bucket", ARN: bucketARN(c.req.Bucket)})
	}
	if c.req.Key != "" {
		ev.RequestParameters["key"] = c.req.Key
		ev.Resources = append(ev.Resources, audit.Resource{Type: "AWS::S3::Object", ARN: objectARN(c.req.Bucket, c.req.Key)})
	}
	if c.req.UploadID != "" {
		ev.RequestParameters["uploadId"] = c.req.UploadID
	}
	if cs := c.req.CopySource; cs != nil {
		ev.RequestParameters["x-amz-copy-source"] = cs.Bucket + "/" + cs.Key
	}
	if failure == nil {
		ev.Keyless.Decision = &audit.Decision{Effect: audit.Allow, Reason: "allowed by the caller's policies"}
		return ev
	}
	e := toWire(failure, false)
	ev.ErrorCode, ev.ErrorMessage = e.Code, e.Message
	d := &audit.Decision{Effect: audit.Deny, Reason: failure.Error()}
	var de *deniedError
	if errors.As(failure, &de) {
		d.Reason = de.reason
		if de.trace != nil {
			d.Trace = de.trace
		}
	}
	ev.Keyless.Decision = d
	return ev
}

func (g *Gateway) userIdentity(c *call) audit.UserIdentity {
	p := c.p
	switch {
	case p == nil:
		return audit.UserIdentity{Type: "AWSAccount", AccountID: "ANONYMOUS_PRINCIPAL"}
	case p.session != nil:
		s := p.session
		u := audit.UserIdentity{Type: "AssumedRole", PrincipalID: s.AssumedRoleID(), ARN: s.AssumedRoleARN(),
			AccountID: s.Account(), AccessKeyID: s.AccessKeyID}
		sc := &audit.SessionContext{SourceIdentity: s.SourceIdentity}
		sc.SessionIssuer.Type = "Role"
		sc.SessionIssuer.PrincipalID = s.RoleID
		sc.SessionIssuer.ARN = s.RoleARN
		sc.SessionIssuer.AccountID = s.Account()
		sc.SessionIssuer.UserName = s.RoleName()
		if s.Provider != "" {
			sc.WebIDFederationData = &struct {
				FederatedProvider string `json:"federatedProvider"`
			}{FederatedProvider: s.Provider}
		}
		sc.Attributes.CreationDate = s.IssuedAt.UTC().Format(time.RFC3339)
		sc.Attributes.MFAAuthenticated = "false"
		u.SessionContext = sc
		return u
	case p.operator != nil:
		return audit.UserIdentity{Type: "IAMUser", ARN: operatorARN(c.st.cfg.AccountID, p.accessKeyID),
			AccountID: c.st.cfg.AccountID, AccessKeyID: p.accessKeyID, PrincipalID: p.accessKeyID}
	}
	// Signed, but the key was not recognised.
	return audit.UserIdentity{Type: "Unknown", AccessKeyID: p.accessKeyID}
}
