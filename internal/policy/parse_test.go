package policy

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAcceptsAWSShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want *Document
	}{
		{
			name: "a single statement object and string elements",
			doc:  `{"Version":"2012-10-17","Id":"p1","Statement":{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`,
			want: &Document{Version: Version2012, ID: "p1", Statements: []Statement{{Sid: "A", Effect: EffectAllow, Action: []string{"s3:GetObject"}, Resource: []string{"*"}}}},
		},
		{
			name: "a statement list, lists of strings and no Version",
			doc:  `{"Statement":[{"Effect":"Deny","NotAction":["iam:*","sts:*"],"NotResource":["arn:aws:s3:::a","arn:aws:s3:::b"]}]}`,
			want: &Document{Statements: []Statement{{Effect: EffectDeny, NotAction: []string{"iam:*", "sts:*"}, NotResource: []string{"arn:aws:s3:::a", "arn:aws:s3:::b"}}}},
		},
		{
			name: "principals of every type, as strings and lists",
			doc:  `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::1:role/r"],"Federated":"accounts.google.com","Service":"ec2.amazonaws.com","CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Action":"sts:AssumeRole"},{"Effect":"Deny","NotPrincipal":"*","Action":"sts:AssumeRole"}]}`,
			want: &Document{Version: Version2008, Statements: []Statement{
				{Effect: EffectAllow, Action: []string{"sts:AssumeRole"}, Principal: &Principals{Entries: []PrincipalEntry{
					{Type: "AWS", Values: []string{"123456789012", "arn:aws:iam::1:role/r"}},
					{Type: "Federated", Values: []string{"accounts.google.com"}},
					{Type: "Service", Values: []string{"ec2.amazonaws.com"}},
					{Type: "CanonicalUser", Values: []string{"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}},
				}}},
				{Index: 1, Effect: EffectDeny, Action: []string{"sts:AssumeRole"}, NotPrincipal: &Principals{Wildcard: true}},
			}},
		},
		{
			name: "condition values as strings, numbers, booleans and lists, in document order",
			doc:  `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":10},"Bool":{"aws:SecureTransport":true},"StringLike":{"k:b":["x*",1.5,"y\u0041"],"k:a":"z"}}}}`,
			want: &Document{Statements: []Statement{{Effect: EffectAllow, Action: []string{"*"}, Resource: []string{"*"}, Conditions: []Condition{
				{Operator: "NumericLessThan", Key: "s3:max-keys", Values: []string{"10"}},
				{Operator: "Bool", Key: "aws:SecureTransport", Values: []string{"true"}},
				{Operator: "StringLike", Key: "k:b", Values: []string{"x*", "1.5", "yA"}},
				{Operator: "StringLike", Key: "k:a", Values: []string{"z"}},
			}}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func problemStrings(err error) []string {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		if err == nil {
			return nil
		}
		return []string{"not a ValidationError: " + err.Error()}
	}
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.Error()
	}
	return out
}

func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"an unknown top-level element", `{"Version":"2012-10-17","Statment":[]}`, []string{
			"Statment: unknown element (want Version, Id, Statement)", "Statement: missing"}},
		{"an unknown Version", `{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, []string{
			`Version: must be "2012-10-17" or "2008-10-17", not "2012-10-18"`}},
		{"an empty statement list", `{"Statement":[]}`, []string{"Statement: must not be empty"}},
		{"a statement that is not an object", `{"Statement":["x"]}`, []string{"statement 0: a statement must be a JSON object"}},
		{"a missing Effect and Action", `{"Statement":{"Sid":"S1","Resource":"*"}}`, []string{
			`statement 0 (Sid "S1"): Action: missing (a statement needs Action or NotAction)`,
			`statement 0 (Sid "S1"): Effect: missing (want "Allow" or "Deny")`}},
		{"an Effect in the wrong case", `{"Statement":{"Effect":"allow","Action":"*","Resource":"*"}}`, []string{
			`statement 0: Effect: must be "Allow" or "Deny", not "allow"`}},
		{"both Action and NotAction, with the Sid named after them", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Action":"s3:*","NotAction":"iam:*","Effect":"Deny","Resource":"*","Sid":"Two"}]}`, []string{
			`statement 1 (Sid "Two"): Action: a statement cannot have both Action and NotAction`}},
		{"both Principal and NotPrincipal, both Resource and NotResource", `{"Statement":{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"*","Resource":"*","NotResource":"*"}}`, []string{
			"statement 0: Principal: a statement cannot have both Principal and NotPrincipal",
			"statement 0: Resource: a statement cannot have both Resource and NotResource"}},
		{"unknown statement fields and wrong types", `{"Statement":{"Effect":"Allow","Actions":"*","Action":7,"Resource":[],"Sid":1}}`, []string{
			"statement 0: Actions: unknown element (want one of Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition)",
			"statement 0: Action: must be a string or a list of strings",
			"statement 0: Resource: must not be an empty list",
			"statement 0: Sid: must be a string"}},
		{"a duplicate element", `{"Statement":{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}}`, []string{
			"statement 0: Effect: duplicate element"}},
		{"bad principal shapes", `{"Statement":[{"Effect":"Allow","Principal":"arn:aws:iam::1:root","Action":"*"},{"Effect":"Allow","Principal":{"Role":"x","AWS":{}},"Action":"*"}]}`, []string{
			`statement 0: Principal: a string Principal must be "*"; use an object such as {"AWS": "arn:aws:iam::1:root"}`,
			"statement 1: Principal.Role: unknown principal type (want AWS, Federated, Service or CanonicalUser)",
			"statement 1: Principal.AWS: must be a string or a list of strings"}},
		{"bad condition operators and values", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqual":{"a:b":"c"},"ForSomeValues:StringEquals":{"a:b":"c"},"NullIfExists":{"a:b":"true"},"StringLike":{"a:b":{"x":1},"a:c":null,"a:d":[]},"Bool":[]}}}`, []string{
			`statement 0: Condition.StringEqual: unknown condition operator "StringEqual"`,
			`statement 0: Condition.ForSomeValues:StringEquals: unknown condition operator "ForSomeValues:StringEquals" (the only qualifiers are ForAnyValue: and ForAllValues:)`,
			`statement 0: Condition.NullIfExists: condition operator "NullIfExists" is not allowed: Null takes no IfExists suffix or set qualifier`,
			"statement 0: Condition.StringLike.a:b: must be a string, number or boolean, or a list of them",
			"statement 0: Condition.StringLike.a:c: must be a string, number or boolean, or a list of them",
			"statement 0: Condition.StringLike.a:d: must not be an empty list",
			"statement 0: Condition.Bool: must be a non-empty object of condition keys"}},
		{"a condition key given twice in different case", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"a","AWS:UserName":"b"}}}}`, []string{
			"statement 0: Condition.StringEquals.AWS:UserName: duplicate condition key (keys are case-insensitive)"}},
		{"a document that is not an object", `["x"]`, []string{"a policy must be a JSON object"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse([]byte(tc.doc))
			if doc != nil {
				t.Errorf("Parse returned a document with an error")
			}
			if diff := cmp.Diff(tc.want, problemStrings(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRejectsMalformedJSON(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{``, `{`, `{"Statement":}`, `{"a":1} x`, `{"a":"\x01"}`, `{"a":01}`, `{"a":"\q"}`} {
		t.Run("input "+doc, func(t *testing.T) {
			t.Parallel()
			if _, err := Parse([]byte(doc)); !errors.Is(err, ErrSyntax) {
				t.Errorf("Parse(%q) = %v, want ErrSyntax", doc, err)
			}
		})
	}
}

func TestValidateByKind(t *testing.T) {
	t.Parallel()
	trust := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"` + githubProvider + `"},"Action":"sts:AssumeRoleWithWebIdentity"}}`
	identity := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`
	tests := []struct {
		name string
		doc  string
		kind Kind
		want []string
	}{
		{"a trust policy is valid as a trust policy", trust, KindTrust, nil},
		{"a trust policy carries a Principal that identity policies forbid", trust, KindIdentity, []string{
			"statement 0: Principal: not allowed in an identity policy (only trust and resource policies name principals)",
			"statement 0: Resource: missing: an identity policy statement needs Resource or NotResource"}},
		{"an identity policy is valid as an identity and a session policy", identity, KindSession, nil},
		{"a trust policy may only name sts actions", `{"Statement":{"Effect":"Allow","Principal":"*","Action":["sts:AssumeRole","s3:GetObject","*"]}}`, KindTrust, []string{
			`statement 0: Action: "s3:GetObject": a trust policy may only name sts: actions (such as sts:AssumeRoleWithWebIdentity)`,
			`statement 0: Action: "*": a trust policy may only name sts: actions (such as sts:AssumeRoleWithWebIdentity)`}},
		{"an identity policy lacks the Principal a trust policy needs", identity, KindTrust, []string{
			"statement 0: Principal: missing: a trust policy statement must name a Principal",
			`statement 0: Action: "s3:GetObject": a trust policy may only name sts: actions (such as sts:AssumeRoleWithWebIdentity)`,
			"statement 0: Resource: not allowed in a trust policy (the resource is the role itself)"}},
		{"a resource policy needs both Principal and Resource", identity, KindResource, []string{
			"statement 0: Principal: missing: a resource policy statement must name a Principal"}},
		{"a bad Sid, a duplicate Sid, bad actions and resources", `{"Version":"2012-10-17","Statement":[{"Sid":"a-b","Effect":"Allow","Action":["s3","s*:Get","s3:Get${x}"],"Resource":["bucket","arn:aws:s3","arn:aws:*:::x","arn:aws:s3:::${aws:username}","arn:aws:s3:::x/${oops"]},{"Sid":"a-b","Effect":"Allow","Action":"*","Resource":"arn:aws:s3:${r}:::x"}]}`, KindIdentity, []string{
			`statement 0 (Sid "a-b"): Sid: "a-b": IAM accepts only letters and digits in a Sid`,
			`statement 0 (Sid "a-b"): Action: "s3" is not an action: want "*" or service:action (for example s3:GetObject)`,
			`statement 0 (Sid "a-b"): Action: action "s*:Get": the service prefix "s*" may hold only letters, digits and '-' (no wildcards or variables)`,
			`statement 0 (Sid "a-b"): Action: action "s3:Get${x}": an action name may hold only letters, digits, '-', '_' and the wildcards * and ?`,
			`statement 0 (Sid "a-b"): Resource: "bucket" is not an ARN: want "*" or arn:partition:service:region:account:resource`,
			`statement 0 (Sid "a-b"): Resource: ARN "arn:aws:s3" has fewer than six colon-separated parts`,
			`statement 0 (Sid "a-b"): Resource: ARN "arn:aws:*:::x": the service part cannot contain wildcards`,
			`statement 0 (Sid "a-b"): Resource: "arn:aws:s3:::x/${oops": malformed policy variable`,
			`statement 1 (Sid "a-b"): Sid: duplicate Sid (also statement 0)`,
			`statement 1 (Sid "a-b"): Sid: "a-b": IAM accepts only letters and digits in a Sid`,
			`statement 1 (Sid "a-b"): Resource: ARN "arn:aws:s3:${r}:::x": policy variables are allowed only in the resource part (after the fifth colon)`}},
		{"bad principal values", `{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::*:root","alice"],"CanonicalUser":"*","Federated":"${x}"},"Action":"sts:AssumeRole"}}`, KindTrust, []string{
			`statement 0: Principal.AWS: "arn:aws:iam::*:root": wildcards are not allowed inside a principal (only "*" on its own)`,
			`statement 0: Principal.AWS: "alice" is not an AWS principal: want "*", a 12-digit account ID or an ARN`,
			`statement 0: Principal.CanonicalUser: CanonicalUser principal cannot be "*"`,
			`statement 0: Principal.Federated: "${x}": policy variables are not allowed in principals`}},
		{"condition values that do not fit their operator", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
			"NumericEquals":{"a:n":"ten"},"DateLessThan":{"a:d":"tomorrow"},"IpAddress":{"a:i":"10.0.0.0/33"},"BinaryEquals":{"a:b":"%%"},
			"Bool":{"a:t":"yes"},"Null":{"a:x":"maybe"},"StringLike":{"a:s":"${bad key}"},"StringEquals":{"nocolon":"x","a:${v}":"y"}}}}`, KindIdentity, []string{
			`statement 0: Condition.NumericEquals.a:n: "ten" is not a number`,
			`statement 0: Condition.DateLessThan.a:d: "tomorrow" is not a date (want ISO 8601, such as 2026-01-02T15:04:05Z, or epoch seconds)`,
			`statement 0: Condition.IpAddress.a:i: "10.0.0.0/33" is not an IP address or CIDR`,
			`statement 0: Condition.BinaryEquals.a:b: "%%" is not base64`,
			`statement 0: Condition.Bool.a:t: "yes" is not a boolean (want true or false)`,
			`statement 0: Condition.Null.a:x: "maybe": Null takes true (key absent) or false (key present)`,
			`statement 0: Condition.StringLike.a:s: "${bad key}": malformed policy variable`,
			`statement 0: Condition.StringEquals.nocolon: "nocolon" is not a condition key: want service:name (for example aws:SourceIp)`,
			`statement 0: Condition.StringEquals.a:${v}: policy variables are not allowed in condition keys`}},
		{"variables are not checked under Version 2008-10-17", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::x/${oops","Condition":{"StringLike":{"a:s":"${bad key}"}}}}`, KindIdentity, nil},
		{"characters outside Latin-1", `{"Statement":{"Sid":"A","Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/€"}}`, KindIdentity, []string{
			`statement 0 (Sid "A"): Resource: character U+20AC is not allowed in policy text`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []string
			for _, e := range doc.Validate(tc.kind) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate(%v) (-want +got):\n%s", tc.kind, diff)
			}
			_, cerr := Compile(doc, tc.kind)
			if (cerr == nil) != (len(tc.want) == 0) {
				t.Errorf("Compile error = %v, want an error: %v", cerr, len(tc.want) > 0)
			}
		})
	}
}

func TestDetectKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want Kind
	}{
		{"a statement with a Principal makes a trust policy", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}`, KindTrust},
		{"a NotPrincipal makes a trust policy", `{"Statement":{"Effect":"Deny","NotPrincipal":"*","Action":"sts:AssumeRole"}}`, KindTrust},
		{"no principal makes an identity policy", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, KindIdentity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if got := doc.DetectKind(); got != tc.want {
				t.Errorf("DetectKind = %v, want %v", got, tc.want)
			}
		})
	}
}
