package idtoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Bounds on how long a fetched key set is fresh, from its Cache-Control.
const (
	minCacheTTL     = time.Minute
	maxCacheTTL     = 24 * time.Hour
	defaultCacheTTL = time.Hour
	minRSABits      = 2048
	fetchTimeout    = clientTimeout
)

// errRateLimited means no fetch happened because one happened recently.
var errRateLimited = errors.New("key refresh rate-limited")

// publicKey is one usable verification key.
type publicKey struct {
	key crypto.PublicKey
	alg string // from the JWK's "alg"; empty when the JWK has none
}

// fits reports whether the key may verify a token signed with alg.
func (k publicKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return alg == "RS256" || alg == "RS384" || alg == "RS512"
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256():
			return alg == "ES256"
		case elliptic.P384():
			return alg == "ES384"
		case elliptic.P521():
			return alg == "ES512"
		}
	}
	return false
}

// keySet maps kid to the keys published under it.
type keySet map[string][]publicKey

// fetched is a refresh's result: the set and the end of its lifetime.
type fetched struct {
	set        keySet
	freshUntil time.Time
}

// remoteKeys caches one provider's key set fetched over HTTP.
type remoteKeys struct {
	issuer            string
	client            *http.Client
	allowHTTPLoopback bool
	now               func() time.Time
	log               *slog.Logger
	staleFor          time.Duration
	limiter           *rate.Limiter
	group             singleflight.Group

	mu         sync.RWMutex
	set        keySet    // nil until the first successful fetch
	freshUntil time.Time // end of the Cache-Control lifetime
	lastErr    *Error    // the last failed refresh, nil after a success
}

// key returns the keys published under kid and until when they are fresh
// (zero when only stale keys could be used). It refreshes the set when it
// is past its lifetime or kid is unknown, at most once per refresh interval
// (concurrent callers share one fetch); while the provider fails, keys
// already known are used until staleFor after the lifetime ended.
func (r *remoteKeys) key(ctx context.Context, kid string) ([]publicKey, time.Time, error) {
	now := r.now()
	r.mu.RLock()
	set, freshUntil := r.set, r.freshUntil
	r.mu.RUnlock()
	if set != nil && now.Before(freshUntil) {
		if ks, ok := set[kid]; ok {
			return ks, freshUntil, nil
		}
	}

	newSet, newFreshUntil, err := r.refresh(ctx, now)
	if err == nil {
		if ks, ok := newSet[kid]; ok {
			return ks, newFreshUntil, nil
		}
		return nil, time.Time{}, newError(KindKeyUnavailable, fmt.Sprintf("kid %q not published by provider", kid), nil)
	}
	// The refresh failed or was skipped: fall back to what we know now
	// (another caller may have refreshed since our first look).
	r.mu.RLock()
	set, freshUntil, last := r.set, r.freshUntil, r.lastErr
	r.mu.RUnlock()
	if set != nil && now.Before(freshUntil.Add(r.staleFor)) {
		if ks, ok := set[kid]; ok {
			if !errors.Is(err, errRateLimited) {
				r.log.Warn("id token provider refresh failed, using cached keys",
					"iss", r.issuer, "kid", kid, "fresh_until", freshUntil, "err", err)
			}
			if now.Before(freshUntil) {
				return ks, freshUntil, nil
			}
			return ks, time.Time{}, nil
		}
	}
	if errors.Is(err, errRateLimited) {
		if last != nil && !now.Before(freshUntil) {
			return nil, time.Time{}, last
		}
		return nil, time.Time{}, newError(KindKeyUnavailable, fmt.Sprintf("kid %q unknown", kid), err)
	}
	return nil, time.Time{}, err
}

// refresh fetches the key set once per rate-limit interval; callers that
// arrive while a fetch runs wait for it and share its result.
func (r *remoteKeys) refresh(ctx context.Context, now time.Time) (keySet, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, newError(KindProviderUnreachable, "no key refresh for a cancelled request", err)
	}
	ch := r.group.DoChan("refresh", func() (any, error) {
		if !r.limiter.AllowN(now, 1) {
			return nil, errRateLimited
		}
		// The fetch outlives a cancelled first caller: others share it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		set, ttl, ferr := r.fetch(fctx)
		r.mu.Lock()
		defer r.mu.Unlock()
		if ferr != nil {
			r.lastErr = ferr
			return nil, ferr
		}
		r.set, r.freshUntil, r.lastErr = set, r.now().Add(ttl), nil
		return fetched{set, r.freshUntil}, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, time.Time{}, res.Err
		}
		f := res.Val.(fetched)
		return f.set, f.freshUntil, nil
	case <-ctx.Done():
		return nil, time.Time{}, newError(KindProviderUnreachable, "gave up waiting for the key refresh", ctx.Err())
	}
}

// fetch reads the discovery document, then the key set at its jwks_uri.
func (r *remoteKeys) fetch(ctx context.Context) (keySet, time.Duration, *Error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	discURL := strings.TrimSuffix(r.issuer, "/") + "/.well-known/openid-configuration"
	if _, err := r.getJSON(ctx, discURL, &disc); err != nil {
		return nil, 0, err
	}
	if disc.Issuer != r.issuer {
		return nil, 0, newError(KindKeyUnavailable,
			fmt.Sprintf("discovery issuer %q does not match provider %q", disc.Issuer, r.issuer), nil)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	header, err := r.getJSON(ctx, disc.JWKSURI, &raw)
	if err != nil {
		return nil, 0, err
	}
	set := r.parseKeys(raw.Keys)
	if len(set) == 0 {
		return nil, 0, newError(KindKeyUnavailable, "jwks holds no usable signing key", nil)
	}
	return set, cacheTTL(header), nil
}

// getJSON fetches u and decodes its JSON body into v.
func (r *remoteKeys) getJSON(ctx context.Context, u string, v any) (http.Header, *Error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, newError(KindKeyUnavailable, "bad url", err)
	}
	if err := checkURL(pu, r.allowHTTPLoopback); err != nil {
		return nil, newError(KindKeyUnavailable, "url refused", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, newError(KindKeyUnavailable, "build request", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, newError(KindProviderUnreachable, "get "+u, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, newError(KindProviderUnreachable, fmt.Sprintf("get %s: status %d", u, resp.StatusCode), nil)
	case resp.StatusCode != http.StatusOK:
		return nil, newError(KindKeyUnavailable, fmt.Sprintf("get %s: status %d", u, resp.StatusCode), nil)
	}
	body := &limitedBody{rc: resp.Body, left: MaxResponseBytes}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return nil, newError(KindKeyUnavailable, "decode "+u, err)
	}
	return resp.Header, nil
}

// parseKeys keeps the public signing keys we can use and skips the rest
// (encryption keys, unknown types, weak RSA keys) instead of failing.
func (r *remoteKeys) parseKeys(raws []json.RawMessage) keySet {
	set := keySet{}
	for _, raw := range raws {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			r.log.Debug("skipping unusable jwk", "iss", r.issuer, "err", err)
			continue
		}
		if jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") || !jwk.IsPublic() {
			continue
		}
		pk := publicKey{key: jwk.Key, alg: jwk.Algorithm}
		switch k := jwk.Key.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < minRSABits {
				continue
			}
		case *ecdsa.PublicKey:
		default:
			continue
		}
		set[jwk.KeyID] = append(set[jwk.KeyID], pk)
	}
	return set
}

// cacheTTL reads max-age from Cache-Control, bounded to
// [minCacheTTL, maxCacheTTL]; no-store and no-cache give minCacheTTL.
func cacheTTL(h http.Header) time.Duration {
	cc := h.Values("Cache-Control")
	if len(cc) == 0 {
		return defaultCacheTTL
	}
	ttl := defaultCacheTTL
	for _, line := range cc {
		for _, d := range strings.Split(line, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			switch {
			case d == "no-store" || d == "no-cache":
				return minCacheTTL
			case strings.HasPrefix(d, "max-age="):
				n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64)
				if err == nil && n >= 0 {
					ttl = time.Duration(min(n, int64(maxCacheTTL/time.Second))) * time.Second
				}
			}
		}
	}
	return min(max(ttl, minCacheTTL), maxCacheTTL)
}
