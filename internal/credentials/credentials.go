// Package credentials mints and opens keyless's temporary credentials. Everything a
// node needs to verify a later request — the secret, the role, the session's identity,
// its session policy, tags and lifetime — is sealed (AES-256-GCM) into the session
// token itself, so any node can authenticate a request without a database read and
// nothing is written per credential.
//
// Token layout (then base64url, no padding):
//
//	version(1) | len(kid)(1) | kid | nonce(12) | AES-GCM(plaintext, aad = version|len|kid)
//
// The plaintext is a compact binary record (see encode.go). The session policy and tags,
// the only parts a caller chooses freely, are deflated on their own before sealing; the
// secret is never in a compressed stream, so token lengths reveal nothing about it.
package credentials

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of Open. The S3 gateway maps ErrMalformed to InvalidToken and
// ErrExpired to ExpiredToken; STS maps them to the Query protocol's codes.
var (
	ErrMalformed  = errors.New("credentials: session token is malformed or was not sealed by this deployment")
	ErrExpired    = errors.New("credentials: session has expired")
	ErrUnknownKey = errors.New("credentials: session token was sealed with an unknown key")
)

// PackedPolicyTooLargeError reports a session policy plus tags that do not fit in a
// session token. Percent is how much of the allowed packed size they take, as AWS's
// PackedPolicySize does.
type PackedPolicyTooLargeError struct {
	Percent int
}

func (e *PackedPolicyTooLargeError) Error() string {
	return fmt.Sprintf("credentials: session policy and tags take %d%% of the allowed packed size", e.Percent)
}

// MaxTokenLen is the longest session token keyless mints for any accepted input.
const MaxTokenLen = 4096

// Tag is a session tag from the token's https://aws.amazon.com/tags claim.
type Tag struct {
	Key   string
	Value string
}

// Session is what a session token carries.
type Session struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionID       string

	RoleARN     string
	RoleID      string
	SessionName string

	Subject  string // the web identity token's sub
	Provider string // the OIDC provider ARN
	Audience string // the matched client id
	AMR      []string

	SessionPolicy     string // inline session policy JSON, if any
	Tags              []Tag
	TransitiveTagKeys []string
	SourceIdentity    string

	IssuedAt   time.Time
	Expiration time.Time
}

// AssumedRoleARN is arn:aws:sts::ACCOUNT:assumed-role/ROLENAME/SESSION (the role's path
// dropped, as AWS does).
func (s *Session) AssumedRoleARN() string {
	account, name := splitRoleARN(s.RoleARN)
	return "arn:aws:sts::" + account + ":assumed-role/" + name + "/" + s.SessionName
}

// AssumedRoleID is ROLEID:SESSION, the session's aws:userid.
func (s *Session) AssumedRoleID() string { return s.RoleID + ":" + s.SessionName }

// Account is the role's account id.
func (s *Session) Account() string {
	a, _ := splitRoleARN(s.RoleARN)
	return a
}

// RoleName is the role's name without its path.
func (s *Session) RoleName() string {
	_, n := splitRoleARN(s.RoleARN)
	return n
}

func splitRoleARN(arn string) (account, name string) {
	// arn:aws:iam::123456789012:role/path/Name
	const prefix = "arn:aws:iam::"
	if len(arn) < len(prefix)+13 || arn[:len(prefix)] != prefix {
		return "", ""
	}
	rest := arn[len(prefix):]
	account = rest[:12]
	res := rest[13:]
	for i := len(res) - 1; i >= 0; i-- {
		if res[i] == '/' {
			return account, res[i+1:]
		}
	}
	return account, res
}

// accessKeyAlphabet is what AWS uses after the ASIA prefix: upper-case letters and digits.
const accessKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// secretAlphabet is base64's, as AWS secret access keys are.
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// NewAccessKeyID returns "ASIA" and 16 random characters, the shape of AWS's temporary keys.
func NewAccessKeyID() string { return "ASIA" + randomString(16, accessKeyAlphabet) }

// NewSecretAccessKey returns 40 random base64 characters.
func NewSecretAccessKey() string { return randomString(40, secretAlphabet) }

// NewSessionID returns a random session id (32 hex characters).
func NewSessionID() string { return randomString(32, "0123456789abcdef") }
