package sigv4

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind says how a request carries its signature.
type Kind int

const (
	// Header is the Authorization header form.
	Header Kind = iota + 1
	// Presigned is the query-string (presigned URL) form.
	Presigned
)

func (k Kind) String() string {
	switch k {
	case Header:
		return "header"
	case Presigned:
		return "presigned"
	}
	return "unknown"
}

// Scope is the credential scope: <date>/<region>/<service>/aws4_request.
type Scope struct {
	Date    string // YYYYMMDD
	Region  string
	Service string
}

func (s Scope) String() string {
	return s.Date + "/" + s.Region + "/" + s.Service + "/" + terminator
}

// Values of x-amz-content-sha256 with a meaning of their own.
const (
	UnsignedPayload                 = "UNSIGNED-PAYLOAD"
	StreamingPayload                = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	amzDateFmt = "20060102T150405Z"
	// MaxExpires is the longest validity of a presigned URL: seven days.
	MaxExpires = 7 * 24 * time.Hour
)

// Auth is what Parse reads from a request before any secret is known.
type Auth struct {
	Kind          Kind
	AccessKeyID   string
	Scope         Scope
	SignedHeaders []string // lower-case, sorted, as the client listed them
	Signature     string   // 64 lower-case hex digits; never log it
	Time          time.Time
	Expires       time.Duration // presigned only
	SecurityToken string        // raw X-Amz-Security-Token ("" if absent); never log it
	// PayloadHash is the x-amz-content-sha256 value as sent ("" if absent).
	PayloadHash string

	amzDate string    // the request time exactly as it goes into the string to sign
	now     time.Time // the time Parse was called with, for Verify's time checks
}

// Parse reads the SigV4 authentication of r, header or presigned, strictly. It returns
// ErrAnonymous for a request with no authentication, ErrSigV2 for a Signature Version 2
// request, and an *Error (AuthorizationHeaderMalformed, AuthorizationQueryParametersError,
// AccessDenied, InvalidArgument, InvalidRequest) for a malformed one. now is kept for the
// skew and expiry checks that Verify makes.
func Parse(r *http.Request, now time.Time) (*Auth, error) {
	authz := r.Header.Values("Authorization")
	var query url.Values
	if raw := r.URL.RawQuery; strings.Contains(raw, "X-Amz-") || strings.Contains(raw, "Signature") ||
		strings.Contains(raw, "AWSAccessKeyId") || strings.Contains(raw, "%") {
		// Only a query that may carry authentication is parsed here; the canonical query
		// string is built from the raw query anyway.
		query = r.URL.Query()
	}
	presigned := query.Has("X-Amz-Algorithm") || query.Has("X-Amz-Credential") || query.Has("X-Amz-Signature")
	if len(authz) > 0 && presigned {
		return nil, newError(CodeInvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	}
	var (
		a   *Auth
		err error
	)
	switch {
	case len(authz) > 1:
		return nil, headerMalformed("the request carries more than one Authorization header")
	case len(authz) == 1:
		a, err = parseAuthorization(r, authz[0])
	case presigned:
		a, err = parseQuery(query)
		if err == nil && a.PayloadHash == "" {
			err = presignedPayloadHeader(r, a)
		}
	case query.Has("AWSAccessKeyId") || query.Has("Signature"):
		return nil, ErrSigV2
	default:
		return nil, ErrAnonymous
	}
	if err != nil {
		return nil, err
	}
	a.now = now
	if err := checkSignedHeaders(r, a); err != nil {
		return nil, err
	}
	return a, nil
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseAuthorization(r *http.Request, h string) (*Auth, error) {
	alg, rest, _ := strings.Cut(h, " ")
	switch {
	case alg == "AWS":
		return nil, ErrSigV2
	case alg != algorithm:
		return nil, newError(CodeInvalidRequest, "Please use AWS4-HMAC-SHA256.")
	}
	a := &Auth{Kind: Header}
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimLeft(part, " "), "=")
		idx := componentIndex(name)
		if !ok || idx < 0 || seen[idx] {
			return nil, headerMalformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
		}
		seen[idx] = true
		var err error
		switch idx {
		case 0:
			a.AccessKeyID, a.Scope, err = parseCredential(value)
			if err != nil {
				return nil, headerMalformed("%v", err)
			}
		case 1:
			if a.SignedHeaders, err = parseSignedHeaders(value); err != nil {
				return nil, headerMalformed("%v", err)
			}
		case 2:
			if !isSignature(value) {
				return nil, headerMalformed("the Signature must be 64 lower-case hexadecimal characters.")
			}
			a.Signature = value
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return nil, headerMalformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	if err := headerTime(r, a); err != nil {
		return nil, err
	}
	if d := a.Time.Format("20060102"); d != a.Scope.Date {
		return nil, headerMalformed("Invalid credential date %q. This date is not the same as X-Amz-Date: %q.", a.Scope.Date, d)
	}
	tok := r.Header.Values("X-Amz-Security-Token")
	if len(tok) > 1 {
		return nil, newError(CodeInvalidArgument, "Multiple X-Amz-Security-Token headers are not allowed")
	}
	if len(tok) == 1 {
		a.SecurityToken = tok[0]
	}
	sha := r.Header.Values("X-Amz-Content-Sha256")
	if len(sha) > 1 {
		return nil, newError(CodeInvalidArgument, "Multiple x-amz-content-sha256 headers are not allowed")
	}
	if len(sha) == 1 {
		if !validPayloadHash(sha[0]) {
			return nil, newError(CodeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
		}
		a.PayloadHash = sha[0]
	}
	return a, nil
}

func componentIndex(name string) int {
	switch name {
	case "Credential":
		return 0
	case "SignedHeaders":
		return 1
	case "Signature":
		return 2
	}
	return -1
}

func errInvalidDate() error {
	return newError(CodeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
}

// headerTime reads the request time from X-Amz-Date or, failing that, Date.
func headerTime(r *http.Request, a *Auth) error {
	invalid := errInvalidDate
	if v := r.Header.Values("X-Amz-Date"); len(v) > 0 {
		t, err := time.Parse(amzDateFmt, v[0])
		if len(v) > 1 || err != nil {
			return invalid()
		}
		a.Time, a.amzDate = t, v[0]
		return nil
	}
	v := r.Header.Values("Date")
	if len(v) != 1 {
		return invalid()
	}
	t, err := http.ParseTime(v[0])
	if err != nil {
		return invalid()
	}
	a.Time = t.UTC()
	a.amzDate = a.Time.Format(amzDateFmt)
	return nil
}

// parseQuery parses the X-Amz-* parameters of a presigned URL.
func parseQuery(q url.Values) (*Auth, error) {
	get := func(name string) (string, error) {
		v := q[name]
		if len(v) != 1 || v[0] == "" {
			return "", queryError("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
		return v[0], nil
	}
	var vals [5]string
	for i, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders"} {
		v, err := get(name)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	if vals[0] != algorithm {
		return nil, queryError("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	a := &Auth{Kind: Presigned}
	var err error
	if a.AccessKeyID, a.Scope, err = parseCredential(vals[1]); err != nil {
		return nil, queryError("Error parsing the X-Amz-Credential parameter; %v", err)
	}
	if !isSignature(vals[2]) {
		return nil, queryError("X-Amz-Signature must be 64 lower-case hexadecimal characters.")
	}
	a.Signature = vals[2]
	if a.Time, err = time.Parse(amzDateFmt, vals[3]); err != nil {
		return nil, queryError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	a.amzDate = vals[3]
	if d := a.Time.Format("20060102"); d != a.Scope.Date {
		return nil, queryError("Invalid credential date %q. This date is not the same as X-Amz-Date: %q.", a.Scope.Date, d)
	}
	if a.SignedHeaders, err = parseSignedHeaders(vals[4]); err != nil {
		return nil, queryError("Error parsing the X-Amz-SignedHeaders parameter; %v", err)
	}
	if a.Expires, err = parseExpires(q, a.Scope.Service); err != nil {
		return nil, err
	}
	if tok, ok := q["X-Amz-Security-Token"]; ok {
		if len(tok) != 1 {
			return nil, queryError("X-Amz-Security-Token must appear once")
		}
		a.SecurityToken = tok[0]
	}
	if sha, ok := q["X-Amz-Content-Sha256"]; ok {
		if len(sha) != 1 || !(sha[0] == UnsignedPayload || isHexSHA256(sha[0])) {
			return nil, queryError("X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value")
		}
		a.PayloadHash = sha[0]
	}
	return a, nil
}

// presignedPayloadHeader takes the payload hash of a presigned request from a (signed)
// x-amz-content-sha256 header when the query does not carry one.
func presignedPayloadHeader(r *http.Request, a *Auth) error {
	sha := r.Header.Values("X-Amz-Content-Sha256")
	switch {
	case len(sha) == 0:
		return nil
	case len(sha) > 1 || !(sha[0] == UnsignedPayload || isHexSHA256(sha[0])):
		return newError(CodeInvalidArgument, "x-amz-content-sha256 of a presigned request must be UNSIGNED-PAYLOAD or a valid sha256 value.")
	}
	a.PayloadHash = sha[0]
	return nil
}

// parseExpires reads X-Amz-Expires: 1..604800 seconds. S3 requires it; other services
// (STS presigned GetCallerIdentity, as aws-sdk-go-v2 makes it) default to 15 minutes.
func parseExpires(q url.Values, service string) (time.Duration, error) {
	v, ok := q["X-Amz-Expires"]
	switch {
	case !ok && RulesAuto.resolve(service) != RulesS3:
		return MaxSkew, nil
	case len(v) != 1 || v[0] == "":
		return 0, queryError("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	secs, err := strconv.ParseInt(v[0], 10, 64)
	switch {
	case err != nil || !isDigits(v[0]):
		return 0, queryError("X-Amz-Expires should be a number")
	case secs < 1:
		return 0, queryError("X-Amz-Expires must be non-negative")
	case secs > int64(MaxExpires/time.Second):
		return 0, queryError("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds")
	}
	return time.Duration(secs) * time.Second, nil
}

// parseCredential parses <AKID>/<YYYYMMDD>/<region>/<service>/aws4_request.
func parseCredential(v string) (string, Scope, error) {
	malformed := credentialError(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	parts := strings.Split(v, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return "", Scope{}, malformed
	}
	if _, err := time.Parse("20060102", parts[1]); err != nil || len(parts[1]) != 8 {
		return "", Scope{}, credentialErrorf("incorrect date format %q. This date in the credential must be in the format \"yyyyMMdd\".", parts[1])
	}
	if parts[4] != terminator {
		return "", Scope{}, credentialErrorf("incorrect terminal %q. This endpoint uses \"aws4_request\".", parts[4])
	}
	if !isToken(parts[0]) || !isToken(parts[2]) || !isToken(parts[3]) {
		return "", Scope{}, malformed
	}
	return parts[0], Scope{Date: parts[1], Region: parts[2], Service: parts[3]}, nil
}

type credentialError string

func (e credentialError) Error() string { return string(e) }

func credentialErrorf(format string, args ...any) credentialError {
	return credentialError(fmt.Sprintf(format, args...))
}

// parseSignedHeaders parses "h1;h2;...": lower-case names, strictly ascending, no empties.
func parseSignedHeaders(v string) ([]string, error) {
	if v == "" {
		return nil, credentialError("SignedHeaders must not be empty.")
	}
	hs := strings.Split(v, ";")
	for i, h := range hs {
		if h == "" || !isHeaderName(h) {
			return nil, credentialErrorf("invalid signed header %q.", h)
		}
		if i > 0 && hs[i-1] >= h {
			return nil, credentialError("SignedHeaders must be sorted and unique.")
		}
	}
	return hs, nil
}

func isHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// isToken reports whether s is a plausible access key id, region or service name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == '=' {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isSignature(s string) bool { return isLowerHex(s, 64) }
func isHexSHA256(s string) bool { return isLowerHex(s, 64) }

func validPayloadHash(v string) bool {
	switch v {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
		return true
	}
	return isHexSHA256(v)
}

// checkSignedHeaders enforces what must be signed: host, the date header used, and every
// x-amz-* header present (which covers x-amz-content-sha256 and x-amz-security-token).
func checkSignedHeaders(r *http.Request, a *Auth) error {
	signed := func(h string) bool {
		for _, s := range a.SignedHeaders {
			if s == h {
				return true
			}
		}
		return false
	}
	if !signed("host") {
		if a.Kind == Presigned {
			return queryError("Error parsing the X-Amz-SignedHeaders parameter; host must be signed.")
		}
		return headerMalformed("the host header must be signed.")
	}
	var missing []string
	if a.Kind == Header {
		if len(r.Header.Values("X-Amz-Date")) > 0 {
			if !signed("x-amz-date") {
				missing = append(missing, "x-amz-date")
			}
		} else if !signed("date") {
			missing = append(missing, "date")
		}
	}
	for name := range r.Header {
		if len(name) < 6 || !strings.EqualFold(name[:6], "x-amz-") {
			continue
		}
		if !slices.ContainsFunc(a.SignedHeaders, func(s string) bool { return strings.EqualFold(s, name) }) &&
			!(a.Kind == Header && strings.EqualFold(name, "x-amz-date")) {
			missing = append(missing, strings.ToLower(name))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return &Error{Code: CodeAccessDenied, Message: msgHeadersNotSigned, HeadersNotSigned: missing}
	}
	return nil
}

// String describes a without its signature or security token, so that it can be logged.
func (a *Auth) String() string {
	token := "no"
	if a.SecurityToken != "" {
		token = "yes"
	}
	return fmt.Sprintf("sigv4 %s auth: access key %s, scope %s, signed headers %s, time %s, session token %s",
		a.Kind, a.AccessKeyID, a.Scope, strings.Join(a.SignedHeaders, ";"), a.amzDate, token)
}

// GoString keeps %#v from printing the signature and token.
func (a *Auth) GoString() string { return a.String() }

// LogValue keeps log/slog from printing the signature and token.
func (a *Auth) LogValue() slog.Value { return slog.StringValue(a.String()) }
