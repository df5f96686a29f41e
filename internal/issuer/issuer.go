// Package issuer is keyless's CI token issuer: per-organisation OIDC discovery documents,
// the public JWKS, and POST /-/oidc/mint, which signs CircleCI-shaped job tokens (or
// GitHub- and GitLab-shaped ones) with the keys of a keys.SigningRing.
//
// The issuer of organisation ORG is <public_url>/-/oidc/org/ORG, mirroring CircleCI's
// https://oidc.circleci.com/org/ORG.
package issuer

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/keys"
)

// Defaults and limits of minted tokens.
const (
	DefaultTTL = time.Hour      // CircleCI's: exp = iat + 1 hour
	MaxTTL     = 24 * time.Hour // the longest ttl a mint request may ask for
)

// PathPrefix is where the coordinator mounts Handler; the handler sees full paths.
const PathPrefix = "/-/oidc/"

// Options configure an Issuer.
type Options struct {
	PublicURL string   // the address clients use, e.g. http://127.0.0.1:8700
	Orgs      []string // organisation ids served
	// Algorithm, when set, must be the signing ring's algorithm (RS256 or ES256).
	Algorithm  string
	TokenTTL   time.Duration // default ttl of minted tokens (DefaultTTL if 0)
	MintSecret []byte        // bearer secret of POST /-/oidc/mint
	Keys       *keys.SigningRing
	Now        func() time.Time
	Logger     *slog.Logger
}

// Issuer serves discovery, JWKS and minting. It is safe for concurrent use.
type Issuer struct {
	base       string // PublicURL + "/-/oidc", no trailing slash
	orgs       map[string]bool
	ttl        time.Duration
	maxTTL     time.Duration
	secretHash [sha256.Size]byte
	ring       *keys.SigningRing
	now        func() time.Time
	log        *slog.Logger
}

// New checks opts and returns an Issuer.
func New(opts Options) (*Issuer, error) {
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("issuer: public url %q is not an absolute http(s) url without query", opts.PublicURL)
	}
	if opts.Keys == nil {
		return nil, errors.New("issuer: no signing keys")
	}
	if opts.Algorithm != "" && opts.Algorithm != opts.Keys.Algorithm() {
		return nil, fmt.Errorf("issuer: algorithm %q differs from the signing ring's %q", opts.Algorithm, opts.Keys.Algorithm())
	}
	if len(opts.MintSecret) == 0 {
		return nil, errors.New("issuer: empty mint secret")
	}
	i := &Issuer{
		base:       strings.TrimRight(opts.PublicURL, "/") + "/-/oidc",
		orgs:       map[string]bool{},
		ttl:        opts.TokenTTL,
		maxTTL:     min(MaxTTL, opts.Keys.MaxLifetime()),
		secretHash: sha256.Sum256(opts.MintSecret),
		ring:       opts.Keys,
		now:        opts.Now,
		log:        opts.Logger,
	}
	for _, org := range opts.Orgs {
		if org == "" || strings.ContainsAny(org, "/?#%") {
			return nil, fmt.Errorf("issuer: org id %q cannot appear in an issuer path", org)
		}
		i.orgs[org] = true
	}
	if i.ttl == 0 {
		i.ttl = DefaultTTL
	}
	if i.ttl < 0 || i.ttl > i.maxTTL {
		return nil, fmt.Errorf("issuer: token ttl %v is outside (0, %v]", i.ttl, i.maxTTL)
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.log == nil {
		i.log = slog.New(slog.DiscardHandler)
	}
	return i, nil
}

// URL returns the issuer URL (the iss claim) of org.
func (i *Issuer) URL(org string) string { return i.base + "/org/" + org }

// Orgs lists the served organisations, sorted.
func (i *Issuer) Orgs() []string {
	out := make([]string, 0, len(i.orgs))
	for o := range i.orgs {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

var _ idtoken.LocalKeySource = (*Issuer)(nil)

// PublicKey returns the public key and algorithm published under kid by the issuer at
// issuerURL, so that keyless's own STS verifies this issuer's tokens without HTTP
// (idtoken.LocalKeySource). An issuer URL that is not one of ours is idtoken.ErrNotLocal.
func (i *Issuer) PublicKey(ctx context.Context, issuerURL, kid string) (crypto.PublicKey, string, error) {
	org, ok := strings.CutPrefix(issuerURL, i.base+"/org/")
	if !ok || !i.orgs[org] {
		return nil, "", idtoken.ErrNotLocal
	}
	pub, alg, err := i.ring.PublicKey(ctx, kid)
	if err != nil {
		return nil, "", fmt.Errorf("issuer: %w", err)
	}
	return pub, alg, nil
}

// Handler serves GET /-/oidc/org/{org}/.well-known/openid-configuration, GET
// /-/oidc/org/{org}/.well-known/jwks-pub.json and POST /-/oidc/mint (full paths).
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/oidc/org/{org}/.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET /-/oidc/org/{org}/.well-known/jwks-pub.json", i.serveJWKS)
	mux.HandleFunc("POST /-/oidc/mint", i.serveMint)
	mux.HandleFunc("/-/oidc/mint", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such issuer endpoint")
	})
	return mux
}

// claimsSupported lists every claim any profile may emit.
var claimsSupported = []string{
	"aud", "exp", "iat", "iss", "jti", "nbf", "sub",
	"oidc.circleci.com/context-ids", "oidc.circleci.com/job-id", "oidc.circleci.com/org-id",
	"oidc.circleci.com/pipeline-id", "oidc.circleci.com/project-id", "oidc.circleci.com/ssh-rerun",
	"oidc.circleci.com/vcs-origin", "oidc.circleci.com/vcs-ref", "oidc.circleci.com/workflow-id",
	// the github profile
	"actor_id", "event_name", "ref", "ref_type", "repository", "repository_id", "repository_owner",
	"run_id", "runner_environment",
	// the gitlab profile
	"job_id", "namespace_path", "pipeline_id", "pipeline_source", "project_id", "project_path",
	"ref_path", "ref_protected", "user_id",
}

type discovery struct {
	Issuer          string   `json:"issuer"`
	JWKSURI         string   `json:"jwks_uri"`
	SigningAlgs     []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypes   []string `json:"response_types_supported"`
	SubjectTypes    []string `json:"subject_types_supported"`
	ScopesSupported []string `json:"scopes_supported"`
	ClaimsSupported []string `json:"claims_supported"`
}

// Discovery returns the OpenID configuration of org.
func (i *Issuer) discovery(org string) discovery {
	iss := i.URL(org)
	return discovery{
		Issuer:          iss,
		JWKSURI:         iss + "/.well-known/jwks-pub.json",
		SigningAlgs:     i.ring.Algorithms(),
		ResponseTypes:   []string{"id_token"},
		SubjectTypes:    []string{"public"},
		ScopesSupported: []string{"openid"},
		ClaimsSupported: claimsSupported,
	}
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("org")
	if !i.orgs[org] {
		writeError(w, http.StatusNotFound, "not_found", "unknown organization")
		return
	}
	writeJSON(w, http.StatusOK, "public, max-age=300", i.discovery(org))
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !i.orgs[r.PathValue("org")] {
		writeError(w, http.StatusNotFound, "not_found", "unknown organization")
		return
	}
	// A verifier that meets an unknown kid refetches, so a short max-age is enough for
	// rotation; retiring keys stay published long past it.
	writeJSON(w, http.StatusOK, "public, max-age=300", i.ring.JWKS())
}

func writeJSON(w http.ResponseWriter, status int, cacheControl string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, "no-store", errorBody{Error: code, Description: msg})
}

// authorized compares the bearer secret in constant time (hashing first hides the length).
func (i *Issuer) authorized(r *http.Request) bool {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	return subtle.ConstantTimeCompare(h[:], i.secretHash[:]) == 1
}
