package issuer_test

import (
	"errors"
	"testing"

	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/keys"
)

// TestLocalKeysServeOurOwnSTS checks the in-process key lookup that keyless's STS uses:
// idtoken verifies a minted token through Issuer.PublicKey, and other issuers are not ours.
func TestLocalKeysServeOurOwnSTS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, keys.ES256)
	iss := f.iss.URL(org)
	v, err := idtoken.New(idtoken.Options{
		Providers:         []idtoken.Provider{{URL: iss, ClientIDs: []string{org}}},
		AllowHTTPLoopback: true,
		Now:               f.clock.Now,
		LocalKeys:         f.iss,
	})
	if err != nil {
		t.Fatalf("idtoken.New: %v", err)
	}
	token := f.mint(t, map[string]any{"org_id": org, "project_id": "p", "user_id": "u", "vcs_ref": "refs/heads/main"})
	f.srv.Close() // no HTTP from here on: the keys must come from the issuer in-process
	id, err := v.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("idtoken Verify through local keys: %v", err)
	}
	if want := "org/" + org + "/project/p/user/u/vcs-origin//vcs-ref/refs/heads/main"; id.Subject != want {
		t.Errorf("subject = %q, want %q", id.Subject, want)
	}
	if _, _, err := f.iss.PublicKey(t.Context(), "https://oidc.circleci.com/org/"+org, "kid"); !errors.Is(err, idtoken.ErrNotLocal) {
		t.Errorf("PublicKey(another issuer) = %v, want ErrNotLocal", err)
	}
	if _, _, err := f.iss.PublicKey(t.Context(), f.iss.URL("nobody"), "kid"); !errors.Is(err, idtoken.ErrNotLocal) {
		t.Errorf("PublicKey(an org we do not serve) = %v, want ErrNotLocal", err)
	}
	if _, _, err := f.iss.PublicKey(t.Context(), iss, "no-such-kid"); err == nil || errors.Is(err, idtoken.ErrNotLocal) {
		t.Errorf("PublicKey(unknown kid) = %v, want an error other than ErrNotLocal", err)
	}
}
