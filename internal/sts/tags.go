package sts

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyless-dev/keyless/internal/credentials"
)

// Claims through which a token asks for session tags and a source identity (AWS-WIRE 4.4).
const (
	tagsClaim           = "https://aws.amazon.com/tags"
	sourceIdentityClaim = "https://aws.amazon.com/source_identity"
	maxTags             = 50
)

// sessionTags are the validated tags of a token, sorted by key.
type sessionTags struct {
	tags       []credentials.Tag
	transitive []string
}

// parseSessionTags reads the https://aws.amazon.com/tags claim:
//
//	{"principal_tags": {"Project": ["Automation"]}, "transitive_tag_keys": ["Project"]}
//
// Each tag value is an array of exactly one string; at most 50 tags; keys 1..128 and
// values 0..256 characters of IAM's tag alphabet; keys unique ignoring case and not
// starting with "aws:"; transitive keys must name tags. It returns nil when the claim
// is absent.
func parseSessionTags(claims map[string]any) (*sessionTags, error) {
	raw, ok := claims[tagsClaim]
	if !ok {
		return nil, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, tagError("the claim must be a JSON object")
	}
	st := &sessionTags{}
	if pt, ok := obj["principal_tags"]; ok {
		m, ok := pt.(map[string]any)
		if !ok {
			return nil, tagError("principal_tags must be a JSON object")
		}
		if len(m) > maxTags {
			return nil, tagError(fmt.Sprintf("%d tags, at most %d are allowed", len(m), maxTags))
		}
		seen := make(map[string]bool, len(m))
		for k, v := range m {
			val, err := tagValue(k, v)
			if err != nil {
				return nil, err
			}
			lk := strings.ToLower(k)
			if seen[lk] {
				return nil, tagError(fmt.Sprintf("tag key %q is given twice (keys are case-insensitive)", k))
			}
			seen[lk] = true
			st.tags = append(st.tags, credentials.Tag{Key: k, Value: val})
		}
		slices.SortFunc(st.tags, func(a, b credentials.Tag) int { return strings.Compare(a.Key, b.Key) })
	}
	if tk, ok := obj["transitive_tag_keys"]; ok {
		arr, ok := tk.([]any)
		if !ok {
			return nil, tagError("transitive_tag_keys must be an array of tag keys")
		}
		for _, e := range arr {
			k, ok := e.(string)
			if !ok || !slices.ContainsFunc(st.tags, func(t credentials.Tag) bool { return strings.EqualFold(t.Key, k) }) {
				return nil, tagError("transitive_tag_keys must name tags of principal_tags")
			}
			if !slices.Contains(st.transitive, k) {
				st.transitive = append(st.transitive, k)
			}
		}
	}
	if len(st.tags) == 0 && len(st.transitive) == 0 {
		return nil, nil
	}
	return st, nil
}

func tagValue(k string, v any) (string, error) {
	if n := utf8.RuneCountInString(k); n < 1 || n > 128 || !isTagText(k) {
		return "", tagError(fmt.Sprintf("tag key %q must be 1 to 128 letters, digits, spaces or _.:/=+-@", k))
	}
	if len(k) >= 4 && strings.EqualFold(k[:4], "aws:") {
		return "", tagError(fmt.Sprintf("tag key %q uses the reserved prefix aws:", k))
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 1 {
		return "", tagError(fmt.Sprintf("tag %q must have an array of exactly one string as its value", k))
	}
	s, ok := arr[0].(string)
	if !ok {
		return "", tagError(fmt.Sprintf("tag %q must have an array of exactly one string as its value", k))
	}
	if utf8.RuneCountInString(s) > 256 || (s != "" && !isTagText(s)) {
		return "", tagError(fmt.Sprintf("the value of tag %q must be 0 to 256 letters, digits, spaces or _.:/=+-@", k))
	}
	return s, nil
}

// isTagText applies IAM's tag alphabet [\p{L}\p{Z}\p{N}_.:/=+\-@]+.
func isTagText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.In(r, unicode.Z) && !unicode.IsNumber(r) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
	}
	return true
}

// parseSourceIdentity reads https://aws.amazon.com/source_identity: a string of 2..64
// characters of [\w+=,.@-]. It returns "" when the claim is absent.
func parseSourceIdentity(claims map[string]any) (string, error) {
	raw, ok := claims[sourceIdentityClaim]
	if !ok {
		return "", nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", &claimError{Claim: sourceIdentityClaim, Detail: "must be a string"}
	}
	var v validation
	v.length("sourceIdentity", s, true, 2, 64)
	v.pattern("sourceIdentity", s, true, patternName, isRoleSessionName)
	if err := v.err(); err != nil {
		return "", err
	}
	return s, nil
}

func tagError(detail string) error { return &claimError{Claim: tagsClaim, Detail: detail} }
