package s3gw

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/sigv4"
)

// principal is who signed a request: a role session, or an operator key.
type principal struct {
	auth        *sigv4.Auth
	accessKeyID string
	session     *credentials.Session // nil for an operator key
	operator    *operator            // nil for a session
}

// authenticate checks the request's signature and credentials. It returns the caller
// (possibly partly known, for the audit event, even on failure) and the body, which
// verifies itself as it is read.
func (g *Gateway) authenticate(c *call) (*principal, io.ReadCloser, error) {
	a, err := sigv4.Parse(c.r, c.now)
	switch {
	case errors.Is(err, sigv4.ErrAnonymous):
		return nil, nil, &deniedError{reason: "anonymous requests are not allowed", anonymous: true}
	case errors.Is(err, sigv4.ErrSigV2):
		return nil, nil, errSigV2
	case err != nil:
		return nil, nil, err
	}
	p := &principal{auth: a, accessKeyID: a.AccessKeyID}
	var secret string
	if a.SecurityToken != "" {
		sess, err := g.sealer.Open(a.SecurityToken)
		p.session = sess
		if err != nil {
			return p, nil, err
		}
		if sess.AccessKeyID != a.AccessKeyID {
			p.session = nil // not this key's session: do not attribute the request to it
			return p, nil, &keyError{accessKeyID: a.AccessKeyID, err: errKeyMismatch}
		}
		secret = sess.SecretAccessKey
	} else {
		if strings.HasPrefix(a.AccessKeyID, "ASIA") {
			return p, nil, errMissingToken
		}
		op, ok := c.st.operators[a.AccessKeyID]
		if !ok {
			return p, nil, &keyError{accessKeyID: a.AccessKeyID, err: errNoSuchAccessKey}
		}
		p.operator = &op
		secret = op.secret
	}
	body, err := g.verifier.Verify(a, c.r, secret, sigv4.Options{Service: "s3", Regions: c.st.regions, Rules: sigv4.RulesS3})
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) && se.Code == sigv4.CodeSignatureDoesNotMatch {
			return p, nil, &keyError{accessKeyID: a.AccessKeyID, signature: a.Signature, err: err}
		}
		return p, nil, err
	}
	if p.session != nil && g.revoked(p.session) {
		_ = body.Close()
		return p, nil, &deniedError{reason: "the session " + p.session.SessionID + " was revoked", err: errRevoked}
	}
	return p, body, nil
}

// sourceIP is the client's address (the server's proxy handling decides RemoteAddr).
func sourceIP(remoteAddr string) string {
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return h
	}
	return remoteAddr
}

// providerHost is the provider ARN's resource: the prefix of its condition keys.
func providerHost(providerARN string) string {
	_, host, ok := strings.Cut(providerARN, ":oidc-provider/")
	if !ok {
		return ""
	}
	return host
}

// conditionKeys builds the request context policies see.
func (g *Gateway) conditionKeys(c *call) map[string][]string {
	k := make(map[string][]string, 32)
	set := func(key string, v ...string) { k[strings.ToLower(key)] = v }
	r, a := c.r, c.p.auth
	set("aws:SourceIp", sourceIP(r.RemoteAddr))
	set("aws:SecureTransport", strconv.FormatBool(r.TLS != nil))
	set("aws:CurrentTime", c.now.UTC().Format(time.RFC3339))
	set("aws:EpochTime", strconv.FormatInt(c.now.Unix(), 10))
	if ua := r.UserAgent(); ua != "" {
		set("aws:UserAgent", ua)
	}
	set("aws:RequestedRegion", a.Scope.Region)
	set("s3:signatureversion", "AWS4-HMAC-SHA256")
	if a.Kind == sigv4.Presigned {
		set("s3:authType", "REST-QUERY-STRING")
	} else {
		set("s3:authType", "REST-HEADER")
	}
	set("s3:signatureAge", strconv.FormatInt(max(c.now.Sub(a.Time), 0).Milliseconds(), 10))
	if a.PayloadHash != "" {
		set("s3:x-amz-content-sha256", a.PayloadHash)
	}
	switch c.req.Op {
	case OpListObjects, OpListObjectsV2, OpListObjectVersions, OpListMultipartUploads:
		q := c.req.Query
		set("s3:prefix", q.Get("prefix"))
		if q.Has("delimiter") {
			set("s3:delimiter", q.Get("delimiter"))
		}
		if v := q.Get("max-keys"); v != "" {
			set("s3:max-keys", v)
		}
	}
	if s := c.p.session; s != nil {
		set("aws:userid", s.AssumedRoleID())
		set("aws:PrincipalArn", s.RoleARN)
		set("aws:PrincipalAccount", s.Account())
		set("aws:PrincipalType", "AssumedRole")
		set("aws:username", s.SessionName)
		set("aws:TokenIssueTime", s.IssuedAt.UTC().Format(time.RFC3339))
		if s.Provider != "" {
			set("aws:FederatedProvider", s.Provider)
		}
		if s.SourceIdentity != "" {
			set("aws:SourceIdentity", s.SourceIdentity)
		}
		for _, t := range s.Tags {
			set("aws:PrincipalTag/"+t.Key, t.Value)
		}
		if host := providerHost(s.Provider); host != "" {
			set(host+":aud", s.Audience)
			set(host+":sub", s.Subject)
			set(host+":amr", s.AMR...)
		}
	} else {
		account := c.st.cfg.AccountID
		set("aws:userid", c.p.accessKeyID)
		set("aws:PrincipalArn", operatorARN(account, c.p.accessKeyID))
		set("aws:PrincipalAccount", account)
		set("aws:PrincipalType", "User")
	}
	return k
}

// operatorARN is how an operator key appears to policies and in audit events.
func operatorARN(account, accessKeyID string) string {
	return "arn:aws:iam::" + account + ":user/keyless-operator/" + accessKeyID
}
