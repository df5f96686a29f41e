package idtoken

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Limits of the hardened outbound client.
const (
	// MaxResponseBytes bounds every response body read through the client.
	MaxResponseBytes = 1 << 20
	clientTimeout    = 15 * time.Second
	maxRedirects     = 3
)

// errResponseTooLarge is returned by a body that exceeds MaxResponseBytes.
var errResponseTooLarge = errors.New("response body too large")

// NewHTTPClient returns the hardened client for outbound fetches
// (discovery, JWKS, and other callers' needs): overall and per-phase
// timeouts, TLS 1.2+, bodies cut at MaxResponseBytes, https only (plain
// http only to a loopback address when allowHTTPLoopback), and redirects
// only to the same scheme and host, at most three.
func NewHTTPClient(allowHTTPLoopback bool) *http.Client {
	return newHTTPClient(allowHTTPLoopback, nil)
}

func newHTTPClient(allowHTTPLoopback bool, tlsConfig *tls.Config) *http.Client {
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	tlsConfig.MinVersion = tls.VersionTLS12
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    4,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: &guardTransport{next: tr, allowHTTPLoopback: allowHTTPLoopback},
		Timeout:   clientTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errors.New("too many redirects")
			}
			first := via[0].URL
			if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
				return fmt.Errorf("redirect to another host refused: %s", req.URL.Host)
			}
			return nil
		},
	}
}

// guardTransport refuses disallowed URLs and limits response bodies.
type guardTransport struct {
	next              http.RoundTripper
	allowHTTPLoopback bool
}

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkURL(req.URL, g.allowHTTPLoopback); err != nil {
		return nil, err
	}
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: MaxResponseBytes}
	return resp, nil
}

// checkURL allows https anywhere and http only to loopback when allowed.
func checkURL(u *url.URL, allowHTTPLoopback bool) error {
	if u.User != nil {
		return errors.New("url with user info refused")
	}
	if u.Host == "" {
		return errors.New("url without host refused")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowHTTPLoopback && isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("plain http refused for %s (https required; http only for loopback in dev)", u.Host)
	default:
		return fmt.Errorf("scheme %q refused", u.Scheme)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// limitedBody fails once more than left bytes have been read, so a caller
// cannot mistake a truncated document for a complete one.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), errResponseTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
