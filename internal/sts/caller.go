package sts

import (
	"context"
	"crypto/subtle"
	"io"

	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/sigv4"
)

// getCallerIdentity is the action: who the SigV4-signed request's temporary
// credentials belong to (AWS-WIRE 1.7).
func (h *Handler) getCallerIdentity(ctx context.Context, c *call) (result, error) {
	sess, err := h.authenticate(c)
	if aerr := h.recordCaller(ctx, c, sess, err); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	return &callerResult{UserID: sess.AssumedRoleID(), Account: sess.Account(), ARN: sess.AssumedRoleARN()}, nil
}

// authenticate checks the request's signature with the secret sealed in its session
// token. The session is returned whenever it could be opened, for the audit event.
func (h *Handler) authenticate(c *call) (*credentials.Session, error) {
	auth, err := sigv4.Parse(c.r, c.now)
	if err != nil {
		return nil, err
	}
	if auth.SecurityToken == "" {
		// Long-term keys are for the S3 gateway's operators, not for STS.
		return nil, errInvalidClientToken
	}
	sess, err := h.sealer.Open(auth.SecurityToken)
	if err != nil {
		return sess, err
	}
	if subtle.ConstantTimeCompare([]byte(sess.AccessKeyID), []byte(auth.AccessKeyID)) != 1 {
		return nil, errInvalidClientToken
	}
	body, err := h.sigv4.Verify(auth, c.r, sess.SecretAccessKey, sigv4.Options{Service: "sts"})
	if err != nil {
		return sess, err
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return sess, err
	}
	if h.revoked != nil && h.revoked(sess) {
		return sess, errRevoked
	}
	return sess, nil
}
