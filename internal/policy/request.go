package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// requestFile is the JSON shape of `keyless policy eval|explain --request`.
type requestFile struct {
	Principal     json.RawMessage            `json:"principal"`
	Action        string                     `json:"action"`
	Resource      string                     `json:"resource"`
	ConditionKeys map[string]json.RawMessage `json:"conditionKeys"`
}

// DecodeRequest decodes a policy request file:
//
//	{"principal": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
//	 "action": "sts:AssumeRoleWithWebIdentity", "resource": "arn:aws:iam::123456789012:role/ci",
//	 "conditionKeys": {"token.actions.githubusercontent.com:sub": "repo:o/r:ref:refs/heads/main",
//	                   "aws:TagKeys": ["team", "env"]}}
//
// A string is a single-valued key, a list a multi-valued one ([] is present but empty);
// numbers and booleans count as their text. principal is optional: an ARN (oidc-provider
// and saml-provider ARNs are Federated, others AWS) or an object such as {"Federated": "..."}.
func DecodeRequest(data []byte) (*Request, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var f requestFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if dec.More() {
		return nil, errors.New("request: trailing data after the JSON object")
	}
	if f.Action == "" {
		return nil, errors.New("request: \"action\" is required")
	}
	if f.Resource == "" {
		return nil, errors.New("request: \"resource\" is required")
	}
	req := &Request{Action: f.Action, Resource: f.Resource}
	if len(f.Principal) > 0 {
		p, err := decodePrincipal(f.Principal)
		if err != nil {
			return nil, err
		}
		req.Principal = p
	}
	keys := Keys{}
	for _, k := range slices.Sorted(maps.Keys(f.ConditionKeys)) {
		raw := f.ConditionKeys[k]
		lk := strings.ToLower(k)
		if _, dup := keys[lk]; dup {
			return nil, fmt.Errorf("request: condition key %q is given twice (keys are case-insensitive)", k)
		}
		v, err := parseJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("request: condition key %q: %w", k, err)
		}
		vals, msg := conditionValues(&v)
		if msg == "must not be an empty list" {
			vals, msg = []string{}, ""
		}
		if msg != "" {
			return nil, fmt.Errorf("request: condition key %q: %s", k, msg)
		}
		keys[lk] = vals
	}
	req.Context = keys
	return req, nil
}

func decodePrincipal(raw json.RawMessage) (Principal, error) {
	v, err := parseJSON(raw)
	if err != nil {
		return Principal{}, fmt.Errorf("request: principal: %w", err)
	}
	switch v.kind {
	case 'n':
		return Principal{}, nil
	case '"':
		return PrincipalFromARN(v.text), nil
	case '{':
		if len(v.members) != 1 || v.members[0].value.kind != '"' {
			return Principal{}, errors.New("request: \"principal\" object must have exactly one type with a string value, such as {\"Federated\": \"accounts.google.com\"}")
		}
		m := v.members[0]
		switch m.name {
		case "AWS", "Federated", "Service", "CanonicalUser":
			return Principal{Type: m.name, Value: m.value.text}, nil
		}
		return Principal{}, fmt.Errorf("request: unknown principal type %q (want AWS, Federated, Service or CanonicalUser)", m.name)
	}
	return Principal{}, errors.New("request: \"principal\" must be an ARN string or an object")
}

// PrincipalFromARN classifies a principal given as a string: IAM oidc-provider and
// saml-provider ARNs are Federated, anything else AWS.
func PrincipalFromARN(s string) Principal {
	var parts [6]string
	if splitARN(s, false, &parts) == 6 && parts[2] == "iam" &&
		(strings.HasPrefix(parts[5], "oidc-provider/") || strings.HasPrefix(parts[5], "saml-provider/")) {
		return Principal{Type: "Federated", Value: s}
	}
	return Principal{Type: "AWS", Value: s}
}
