package s3gw

import (
	"errors"
	"fmt"
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
	if p.session != nil && g.revocationsStale != nil {
		if err := g.revocationsStale(); err != nil {
			_ = body.Close()
			return p, nil, fmt.Errorf("%w: %w", errRevocationsStale, err)
		}
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

// requestContext is the request context policies see. Keys are computed when a policy
// asks for them: most statements have no conditions, so most requests build none.
type requestContext struct{ c *call }

// Lookup implements policy.Context; key is lower-case.
func (rc requestContext) Lookup(key string) ([]string, bool) {
	c := rc.c
	r, a := c.r, c.p.auth
	one := func(v string) ([]string, bool) { return []string{v}, true }
	switch key {
	case "aws:sourceip":
		return one(sourceIP(r.RemoteAddr))
	case "aws:securetransport":
		return one(strconv.FormatBool(r.TLS != nil))
	case "aws:currenttime":
		return one(c.now.UTC().Format(time.RFC3339))
	case "aws:epochtime":
		return one(strconv.FormatInt(c.now.Unix(), 10))
	case "aws:useragent":
		if ua := r.UserAgent(); ua != "" {
			return one(ua)
		}
		return nil, false
	case "aws:requestedregion":
		return one(a.Scope.Region)
	case "s3:signatureversion":
		return one("AWS4-HMAC-SHA256")
	case "s3:authtype":
		if a.Kind == sigv4.Presigned {
			return one("REST-QUERY-STRING")
		}
		return one("REST-HEADER")
	case "s3:signatureage":
		return one(strconv.FormatInt(max(c.now.Sub(a.Time), 0).Milliseconds(), 10))
	case "s3:x-amz-content-sha256":
		if a.PayloadHash == "" {
			return nil, false
		}
		return one(a.PayloadHash)
	case "s3:prefix", "s3:delimiter", "s3:max-keys":
		return rc.listKey(key[len("s3:"):])
	}
	if s := c.p.session; s != nil {
		return sessionKey(s, key)
	}
	account := c.st.cfg.AccountID
	switch key {
	case "aws:userid":
		return one(c.p.accessKeyID)
	case "aws:principalarn":
		return one(operatorARN(account, c.p.accessKeyID))
	case "aws:principalaccount":
		return one(account)
	case "aws:principaltype":
		return one("User")
	}
	return nil, false
}

// listKey is s3:prefix, s3:delimiter or s3:max-keys, present on listing operations.
func (rc requestContext) listKey(name string) ([]string, bool) {
	switch rc.c.req.Op {
	case OpListObjects, OpListObjectsV2, OpListObjectVersions, OpListMultipartUploads:
	default:
		return nil, false
	}
	q := rc.c.req.Query
	if name == "prefix" {
		return []string{q.Get("prefix")}, true // S3 always sets it, "" when absent
	}
	if !q.Has(name) {
		return nil, false
	}
	return []string{q.Get(name)}, true
}

// sessionKey is a key describing a role session.
func sessionKey(s *credentials.Session, key string) ([]string, bool) {
	one := func(v string) ([]string, bool) { return []string{v}, v != "" }
	switch key {
	case "aws:userid":
		return one(s.AssumedRoleID())
	case "aws:principalarn":
		return one(s.RoleARN)
	case "aws:principalaccount":
		return one(s.Account())
	case "aws:principaltype":
		return one("AssumedRole")
	case "aws:username":
		return one(s.SessionName)
	case "aws:tokenissuetime":
		return one(s.IssuedAt.UTC().Format(time.RFC3339))
	case "aws:federatedprovider":
		return one(s.Provider)
	case "aws:sourceidentity":
		return one(s.SourceIdentity)
	}
	if tag, ok := strings.CutPrefix(key, "aws:principaltag/"); ok {
		for _, t := range s.Tags {
			if strings.EqualFold(t.Key, tag) {
				return []string{t.Value}, true
			}
		}
		return nil, false
	}
	host := providerHost(s.Provider)
	if host == "" {
		return nil, false
	}
	claim, ok := strings.CutPrefix(key, strings.ToLower(host)+":")
	switch {
	case !ok:
		return nil, false
	case claim == "aud":
		return one(s.Audience)
	case claim == "sub":
		return one(s.Subject)
	case claim == "amr":
		return s.AMR, len(s.AMR) > 0
	}
	return nil, false
}

// operatorARN is how an operator key appears to policies and in audit events.
func operatorARN(account, accessKeyID string) string {
	return "arn:aws:iam::" + account + ":user/keyless-operator/" + accessKeyID
}
