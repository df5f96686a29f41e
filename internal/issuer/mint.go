package issuer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Profiles: the shape of the minted claims.
const (
	ProfileCircleCIV2 = "circleci-v2" // the default; sub with vcs-origin and vcs-ref
	ProfileCircleCIV1 = "circleci-v1" // sub org/<org>/project/<project>/user/<user>
	ProfileGitHub     = "github"      // sub repo:OWNER/REPO:ref:<ref>
	ProfileGitLab     = "gitlab"      // sub project_path:GROUP/PROJECT:ref_type:<type>:ref:<name>
)

// maxMintBody bounds a mint request body.
const maxMintBody = 64 << 10

// MintRequest is the JSON body of POST /-/oidc/mint. Only OrgID is required; missing ids
// get random UUIDs.
type MintRequest struct {
	OrgID      string   `json:"org_id"`
	ProjectID  string   `json:"project_id"`
	UserID     string   `json:"user_id"`
	VCSOrigin  string   `json:"vcs_origin"`
	VCSRef     string   `json:"vcs_ref"`
	ContextIDs []string `json:"context_ids"`
	SSHRerun   bool     `json:"ssh_rerun"`
	PipelineID string   `json:"pipeline_id"`
	WorkflowID string   `json:"workflow_id"`
	JobID      string   `json:"job_id"`
	Aud        string   `json:"aud"`
	TTL        TTL      `json:"ttl"`
	Profile    string   `json:"profile"`
}

// TTL is a token lifetime in JSON: a Go duration string ("15m", "1h") or a number of seconds.
type TTL time.Duration

// UnmarshalJSON accepts "1h30m" or 5400.
func (t *TTL) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return ttlError{}
		}
		*t = TTL(d)
		return nil
	}
	secs, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || secs > int64(MaxTTL/time.Second)*1000 || secs < -int64(MaxTTL/time.Second)*1000 {
		return ttlError{}
	}
	*t = TTL(time.Duration(secs) * time.Second)
	return nil
}

// ttlError is a ttl that is neither a duration string nor a whole number of seconds.
type ttlError struct{}

func (ttlError) Error() string {
	return "ttl must be a duration string like \"15m\" or a whole number of seconds"
}

// MarshalJSON writes the duration string.
func (t TTL) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(t).String()) }

// RequestError is a mint request the issuer refuses; its message is safe to show the caller.
type RequestError struct{ msg string }

func (e *RequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &RequestError{msg: fmt.Sprintf(format, args...)}
}

// DecodeMintRequest parses a mint request body strictly: one JSON object, known fields only.
func DecodeMintRequest(body []byte) (MintRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var req MintRequest
	if err := dec.Decode(&req); err != nil {
		return MintRequest{}, badRequest("malformed request: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return MintRequest{}, badRequest("malformed request: data after the JSON object")
	}
	return req, nil
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, new(ttlError)):
		return ttlError{}.Error()
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not a JSON object of the documented fields"
}

// Mint validates req and returns a signed token. Refused requests are *RequestError.
func (i *Issuer) Mint(ctx context.Context, req MintRequest) (string, error) {
	c, err := i.claims(req)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(c.body)
	if err != nil {
		return "", fmt.Errorf("issuer: encode claims: %w", err)
	}
	token, kid, err := i.ring.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("issuer: %w", err)
	}
	i.log.InfoContext(ctx, "minted token", "iss", c.iss, "sub", c.sub, "jti", c.jti, "kid", kid,
		"profile", c.profile, "exp", c.exp)
	return token, nil
}

func (i *Issuer) serveMint(w http.ResponseWriter, r *http.Request) {
	if !i.authorized(r) {
		i.log.WarnContext(r.Context(), "mint refused: missing or wrong secret", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyless"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "a valid mint secret is required (Authorization: Bearer ...)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMintBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "request body unreadable or larger than 64 KiB")
		return
	}
	req, err := DecodeMintRequest(body)
	var token string
	if err == nil {
		token, err = i.Mint(r.Context(), req)
	}
	var re *RequestError
	switch {
	case errors.As(err, &re):
		i.log.InfoContext(r.Context(), "mint refused", "reason", re.msg)
		writeError(w, http.StatusBadRequest, "invalid_request", re.msg)
	case err != nil:
		i.log.ErrorContext(r.Context(), "mint failed", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
	default:
		writeJSON(w, http.StatusOK, "no-store", struct {
			Token string `json:"token"`
		}{token})
	}
}
