package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/oidctest"
)

func TestTokenVerify(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	host := strings.TrimPrefix(p.URL(), "http://")
	claims := p.Claims(time.Now(), "aud-1", "org/o/project/p/user/u")
	claims["oidc.circleci.com/context-ids"] = []string{"c1", "c2"}
	claims["oidc.circleci.com/ssh-rerun"] = false
	token := p.Sign(claims)

	t.Run("a valid token prints its claims and condition keys", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "token", "verify", "--provider", p.URL(), "--audience", "aud-1", token)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got verifyOutput
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		if got.Subject != "org/o/project/p/user/u" || got.Audience != "aud-1" || got.Issuer != p.URL() {
			t.Errorf("issuer %q subject %q audience %q", got.Issuer, got.Subject, got.Audience)
		}
		want := map[string]any{
			host + ":aud":                           "aud-1",
			host + ":sub":                           "org/o/project/p/user/u",
			host + ":oidc.circleci.com/context-ids": []any{"c1", "c2"},
			host + ":oidc.circleci.com/ssh-rerun":   "false",
		}
		for k := range got.ConditionKeys {
			if _, ok := want[k]; !ok {
				delete(got.ConditionKeys, k) // iss, iat, exp, jti keys are not the point here
			}
		}
		if diff := cmp.Diff(want, got.ConditionKeys); diff != "" {
			t.Errorf("condition keys (-want +got):\n%s", diff)
		}
	})
	t.Run("aws-compatible-keys-only leaves out the custom claims", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "token", "verify", "--provider", p.URL(), "--audience", "aud-1", "--aws-compatible-keys-only", token)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if strings.Contains(out, `":oidc.circleci.com/context-ids"`) {
			t.Errorf("custom claim listed as a condition key:\n%s", out)
		}
	})
	t.Run("a wrong audience exits 1 with the reason", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "token", "verify", "--provider", p.URL(), "--audience", "other", token)
		if code != 1 || out != "" || !strings.Contains(errOut, "does not verify") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, a reason", code, out, errOut)
		}
		if strings.Contains(errOut, token) {
			t.Errorf("stderr repeats the token")
		}
	})
	t.Run("a provider URL that is not https or loopback is bad input", func(t *testing.T) {
		t.Parallel()
		code, _, _ := runCLI(t, "token", "verify", "--provider", "http://example.com/x", "--audience", "a", token)
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}
