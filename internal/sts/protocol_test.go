package sts

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// assumeQuery is the request Envoy sends, as query parameters.
func (f *fixture) assumeQuery(token string) url.Values {
	return url.Values{
		"Action":           {"AssumeRoleWithWebIdentity"},
		"Version":          {"2011-06-15"},
		"RoleSessionName":  {session},
		"RoleArn":          {roleARNs},
		"WebIdentityToken": {token},
	}
}

type xmlAssume struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result  struct {
		Audience        string
		AssumedRoleUser struct{ AssumedRoleId, Arn string }
		Provider        string
		Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
		Subject         string `xml:"SubjectFromWebIdentityToken"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type xmlError struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
	ID      string   `xml:"RequestId"`
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAGETWithEverythingInTheQueryIsAnsweredLikeAPOST(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/?"+f.assumeQuery(f.token(f.claims())).Encode(), nil)
	resp := f.do(req)
	b := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var got xmlAssume
	if err := xml.Unmarshal(b, &got); err != nil {
		t.Fatalf("answer is not STS's XML: %v\n%s", err, b)
	}
	if got.RequestID == "" || resp.Header.Get("x-amzn-RequestId") != got.RequestID {
		t.Errorf("x-amzn-RequestId %q, body RequestId %q: want the same non-empty id", resp.Header.Get("x-amzn-RequestId"), got.RequestID)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type = %q, want text/xml", ct)
	}
	want := []string{org, session, f.now().Add(3600e9).Format("2006-01-02T15:04:05Z")}
	gotVals := []string{got.Result.Audience, got.Result.AssumedRoleUser.Arn[strings.LastIndexByte(got.Result.AssumedRoleUser.Arn, '/')+1:], got.Result.Credentials.Expiration}
	if diff := cmp.Diff(want, gotVals); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestActionInTheQueryAndParametersInTheBodyAreMerged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	q := f.assumeQuery(f.token(f.claims()))
	form := url.Values{"RoleArn": q["RoleArn"], "RoleSessionName": q["RoleSessionName"], "WebIdentityToken": q["WebIdentityToken"]}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if resp := f.do(req); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body(t, resp))
	}
}

func TestAcceptJSONGetsEnvoysJSONShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/?"+f.assumeQuery(f.token(f.claims())).Encode(), nil)
	req.Header.Set("Accept", "application/json")
	resp := f.do(req)
	b := body(t, resp)
	var got struct {
		R struct {
			Result struct {
				Credentials struct {
					AccessKeyID string `json:"AccessKeyId"`
					Expiration  json.Number
				}
				PackedPolicySize *int
				SourceIdentity   *string
				Audience         string
			} `json:"AssumeRoleWithWebIdentityResult"`
			Metadata struct{ RequestID string } `json:"ResponseMetadata"`
		} `json:"AssumeRoleWithWebIdentityResponse"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	r := got.R.Result
	if resp.Header.Get("Content-Type") != "application/json" || r.Credentials.Expiration.String() != strconv.FormatInt(f.now().Unix()+3600, 10) {
		t.Errorf("Content-Type %q, Expiration %s: want application/json and epoch seconds %d", resp.Header.Get("Content-Type"), r.Credentials.Expiration, f.now().Unix()+3600)
	}
	if r.PackedPolicySize != nil || r.SourceIdentity != nil || r.Audience != org || !strings.HasPrefix(r.Credentials.AccessKeyID, "ASIA") {
		t.Errorf("result %+v: want null PackedPolicySize and SourceIdentity, audience %s, an ASIA key", r, org)
	}
	if got.R.Metadata.RequestID != resp.Header.Get("x-amzn-RequestId") {
		t.Errorf("RequestId %q differs from the header's %q", got.R.Metadata.RequestID, resp.Header.Get("x-amzn-RequestId"))
	}
}

func TestJSONErrorsHaveEnvoysShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/?"+f.assumeQuery(f.token(with(f.claims(), "aud", "x"))).Encode(), nil)
	req.Header.Set("Accept", "application/json")
	resp := f.do(req)
	var got struct {
		Error     struct{ Code, Message, Type string }
		RequestID string `json:"RequestId"`
	}
	if err := json.Unmarshal(body(t, resp), &got); err != nil {
		t.Fatal(err)
	}
	want := []any{400, "InvalidIdentityToken", "Incorrect token audience", "Sender", resp.Header.Get("x-amzn-RequestId")}
	if diff := cmp.Diff(want, []any{resp.StatusCode, got.Error.Code, got.Error.Message, got.Error.Type, got.RequestID}); diff != "" {
		t.Errorf("JSON error (-want +got):\n%s", diff)
	}
}

func TestMalformedRequestsGetQueryProtocolErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name, method, query, ctype, body string
		want                             []any
	}{
		{"an unknown action is InvalidAction", "POST", "", form, "Action=AssumeRole&Version=2011-06-15",
			[]any{400, "InvalidAction", "Could not find operation AssumeRole for version 2011-06-15"}},
		{"another version is InvalidAction", "GET", "Action=GetCallerIdentity&Version=2011-06-16", "", "",
			[]any{400, "InvalidAction", "Could not find operation GetCallerIdentity for version 2011-06-16"}},
		{"no action is MissingAction", "POST", "", form, "Version=2011-06-15",
			[]any{400, "MissingAction", "Missing Action"}},
		{"a parameter given twice differently is malformed", "POST", "Action=GetCallerIdentity", form, "Action=AssumeRoleWithWebIdentity",
			[]any{400, "MalformedQueryString", "The request could not be decoded: a parameter is given twice with different values"}},
		{"bad percent-encoding is malformed", "POST", "", form, "Action=%zz",
			[]any{400, "MalformedQueryString", "The request could not be decoded: the value of a parameter is not properly percent-encoded"}},
		{"a body over the limit is refused", "POST", "", form, "Action=AssumeRoleWithWebIdentity&Policy=" + strings.Repeat("a", MaxBodyBytes),
			[]any{413, "RequestEntityTooLarge", "Request body must be no larger than 131072 bytes"}},
		{"a PUT is refused", "PUT", "Action=GetCallerIdentity", "", "",
			[]any{405, "MethodNotAllowed", "STS accepts GET and POST requests only"}},
		{"missing members are each reported", "POST", "", form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15",
			[]any{400, "ValidationError", "3 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null; Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null; Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tc.method, f.srv.URL+"/?"+tc.query, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp := f.do(req)
			b := body(t, resp)
			var e xmlError
			if err := xml.Unmarshal(b, &e); err != nil {
				t.Fatalf("not an ErrorResponse: %v\n%s", err, b)
			}
			if diff := cmp.Diff(tc.want, []any{resp.StatusCode, e.Code, e.Message}); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if e.Type != "Sender" || e.ID == "" || e.ID != resp.Header.Get("x-amzn-RequestId") {
				t.Errorf("Type %q, RequestId %q, header %q: want Sender and the same id twice", e.Type, e.ID, resp.Header.Get("x-amzn-RequestId"))
			}
		})
	}
}
