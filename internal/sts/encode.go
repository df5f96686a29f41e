package sts

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/keyless-dev/keyless/internal/apierr"
	"github.com/keyless-dev/keyless/internal/credentials"
)

// assumeResult is AssumeRoleWithWebIdentity's answer (AWS-WIRE 1.3).
type assumeResult struct {
	Audience         string
	AssumedRoleID    string
	ARN              string
	Provider         string
	AccessKeyID      string
	SecretAccessKey  string
	SessionToken     string
	Expiration       time.Time
	Subject          string
	PackedPolicySize int // -1: absent
	SourceIdentity   string
}

// utilization is the share of the largest session token this one uses, in percent
// (the model's SessionTokenUtilization; SessionTokenSize is the token's length).
func (r *assumeResult) utilization() int {
	return (len(r.SessionToken)*100 + credentials.MaxTokenLen - 1) / credentials.MaxTokenLen
}

// appendXML writes the answer as real STS does: same elements, order and indentation.
func (r *assumeResult) appendXML(b []byte, requestID string) []byte {
	b = append(b, `<AssumeRoleWithWebIdentityResponse xmlns="`+apierr.STSNamespace+`">
  <AssumeRoleWithWebIdentityResult>
    <Audience>`...)
	b = appendEscaped(b, r.Audience)
	b = append(b, "</Audience>\n    <AssumedRoleUser>\n      <AssumedRoleId>"...)
	b = appendEscaped(b, r.AssumedRoleID)
	b = append(b, "</AssumedRoleId>\n      <Arn>"...)
	b = appendEscaped(b, r.ARN)
	b = append(b, "</Arn>\n    </AssumedRoleUser>\n    <Provider>"...)
	b = appendEscaped(b, r.Provider)
	b = append(b, "</Provider>\n    <Credentials>\n      <AccessKeyId>"...)
	b = appendEscaped(b, r.AccessKeyID)
	b = append(b, "</AccessKeyId>\n      <SecretAccessKey>"...)
	b = appendEscaped(b, r.SecretAccessKey)
	b = append(b, "</SecretAccessKey>\n      <SessionToken>"...)
	b = appendEscaped(b, r.SessionToken)
	b = append(b, "</SessionToken>\n      <Expiration>"...)
	b = r.Expiration.UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, "</Expiration>\n    </Credentials>\n    <SubjectFromWebIdentityToken>"...)
	b = appendEscaped(b, r.Subject)
	b = append(b, "</SubjectFromWebIdentityToken>\n"...)
	if r.PackedPolicySize >= 0 {
		b = append(b, "    <PackedPolicySize>"...)
		b = strconv.AppendInt(b, int64(r.PackedPolicySize), 10)
		b = append(b, "</PackedPolicySize>\n"...)
	}
	if r.SourceIdentity != "" {
		b = append(b, "    <SourceIdentity>"...)
		b = appendEscaped(b, r.SourceIdentity)
		b = append(b, "</SourceIdentity>\n"...)
	}
	b = append(b, "    <SessionTokenUtilization>"...)
	b = strconv.AppendInt(b, int64(r.utilization()), 10)
	b = append(b, "</SessionTokenUtilization>\n    <SessionTokenSize>"...)
	b = strconv.AppendInt(b, int64(len(r.SessionToken)), 10)
	b = append(b, "</SessionTokenSize>\n  </AssumeRoleWithWebIdentityResult>\n"...)
	return appendMetadata(b, requestID, "AssumeRoleWithWebIdentityResponse")
}

type jsonAssumedRoleUser struct {
	Arn           string `json:"Arn"`
	AssumedRoleID string `json:"AssumedRoleId"`
}

type jsonCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	Expiration      int64  `json:"Expiration"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
}

type jsonMetadata struct {
	RequestID string `json:"RequestId"`
}

// marshalJSON writes the JSON form Envoy asks for: Expiration in epoch seconds, absent
// members null.
func (r *assumeResult) marshalJSON(requestID string) []byte {
	type result struct {
		AssumedRoleUser             jsonAssumedRoleUser `json:"AssumedRoleUser"`
		Audience                    string              `json:"Audience"`
		Credentials                 jsonCredentials     `json:"Credentials"`
		PackedPolicySize            *int                `json:"PackedPolicySize"`
		Provider                    string              `json:"Provider"`
		SessionTokenSize            int                 `json:"SessionTokenSize"`
		SessionTokenUtilization     int                 `json:"SessionTokenUtilization"`
		SourceIdentity              *string             `json:"SourceIdentity"`
		SubjectFromWebIdentityToken string              `json:"SubjectFromWebIdentityToken"`
	}
	res := result{
		AssumedRoleUser: jsonAssumedRoleUser{Arn: r.ARN, AssumedRoleID: r.AssumedRoleID},
		Audience:        r.Audience,
		Credentials: jsonCredentials{AccessKeyID: r.AccessKeyID, Expiration: r.Expiration.Unix(),
			SecretAccessKey: r.SecretAccessKey, SessionToken: r.SessionToken},
		Provider:                    r.Provider,
		SessionTokenSize:            len(r.SessionToken),
		SessionTokenUtilization:     r.utilization(),
		SubjectFromWebIdentityToken: r.Subject,
	}
	if r.PackedPolicySize >= 0 {
		res.PackedPolicySize = &r.PackedPolicySize
	}
	if r.SourceIdentity != "" {
		res.SourceIdentity = &r.SourceIdentity
	}
	out, _ := json.Marshal(map[string]any{"AssumeRoleWithWebIdentityResponse": struct {
		Result   result       `json:"AssumeRoleWithWebIdentityResult"`
		Metadata jsonMetadata `json:"ResponseMetadata"`
	}{res, jsonMetadata{requestID}}})
	return out
}

// callerResult is GetCallerIdentity's answer.
type callerResult struct {
	UserID  string
	Account string
	ARN     string
}

func (r *callerResult) appendXML(b []byte, requestID string) []byte {
	b = append(b, `<GetCallerIdentityResponse xmlns="`+apierr.STSNamespace+`">
  <GetCallerIdentityResult>
    <Arn>`...)
	b = appendEscaped(b, r.ARN)
	b = append(b, "</Arn>\n    <UserId>"...)
	b = appendEscaped(b, r.UserID)
	b = append(b, "</UserId>\n    <Account>"...)
	b = appendEscaped(b, r.Account)
	b = append(b, "</Account>\n  </GetCallerIdentityResult>\n"...)
	return appendMetadata(b, requestID, "GetCallerIdentityResponse")
}

func (r *callerResult) marshalJSON(requestID string) []byte {
	type result struct {
		Account string `json:"Account"`
		Arn     string `json:"Arn"`
		UserID  string `json:"UserId"`
	}
	out, _ := json.Marshal(map[string]any{"GetCallerIdentityResponse": struct {
		Result   result       `json:"GetCallerIdentityResult"`
		Metadata jsonMetadata `json:"ResponseMetadata"`
	}{result{r.Account, r.ARN, r.UserID}, jsonMetadata{requestID}}})
	return out
}

func appendMetadata(b []byte, requestID, root string) []byte {
	b = append(b, "  <ResponseMetadata>\n    <RequestId>"...)
	b = appendEscaped(b, requestID)
	b = append(b, "</RequestId>\n  </ResponseMetadata>\n</"...)
	b = append(b, root...)
	return append(b, ">\n"...)
}

// appendEscaped appends s as XML character data. Characters XML 1.0 cannot carry are
// replaced by U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	if isXMLSafe(s) {
		return append(b, s...)
	}
	for _, r := range s {
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"':
			b = append(b, "&quot;"...)
		case r == '\'':
			b = append(b, "&apos;"...)
		case r == '\r':
			b = append(b, "&#xD;"...)
		case !xmlChar(r):
			b = append(b, "\uFFFD"...)
		default:
			b = append(b, string(r)...)
		}
	}
	return b
}

// isXMLSafe says whether s can be written as XML character data as it is: ASCII, no
// control character other than tab and newline, nothing to escape. One pass over s (the
// session token is ~1 KB and is always safe).
func isXMLSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80, c < 0x20 && c != '\t' && c != '\n':
			return false
		case c == '&', c == '<', c == '>', c == '"', c == '\'':
			return false
		}
	}
	return true
}

func xmlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
