package client

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxRefreshWindow bounds how long before expiry credentials are renewed. It is more
// than botocore's 15-minute advisory window, so an SDK that asks again then gets fresh
// credentials rather than the same ones.
const maxRefreshWindow = 20 * time.Minute

// CredentialServer serves credentials in the format of the SDKs' container credential
// provider (the endpoint named by AWS_CONTAINER_CREDENTIALS_FULL_URI, authorised by
// AWS_CONTAINER_AUTHORIZATION_TOKEN) and assumes the role again when the current
// credentials come close to expiry. It lets a long command outlive one session.
type CredentialServer struct {
	assume func(context.Context) (Credentials, error)
	now    func() time.Time
	auth   string
	log    io.Writer

	mu     sync.Mutex
	cur    Credentials
	issued time.Time
}

// NewCredentialServer serves initial (obtained at now()) and renews it with assume.
// Failed renewals are reported on log (never with a secret) and the current
// credentials are served while they last.
func NewCredentialServer(assume func(context.Context) (Credentials, error), initial Credentials, now func() time.Time, log io.Writer) *CredentialServer {
	if log == nil {
		log = io.Discard
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return &CredentialServer{assume: assume, now: now, auth: hex.EncodeToString(b[:]), log: log, cur: initial, issued: now()}
}

// AuthorizationToken is the value clients must send in the Authorization header.
func (s *CredentialServer) AuthorizationToken() string { return s.auth }

// refreshWindow is a third of the credentials' lifetime, at most maxRefreshWindow.
func (s *CredentialServer) refreshWindow() time.Duration {
	return min(maxRefreshWindow, s.cur.Expiration.Sub(s.issued)/3)
}

// Current returns credentials valid for a while, renewing them first if needed.
func (s *CredentialServer) Current(ctx context.Context) (Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !expiresSoon(s.cur, now, s.refreshWindow()) {
		return s.cur, nil
	}
	c, err := s.assume(ctx)
	if err == nil {
		s.cur, s.issued = c, now
		fmt.Fprintf(s.log, "keyless: renewed credentials: %s\n", c)
		return c, nil
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	fmt.Fprintf(s.log, "keyless: renewing credentials failed: %s\n", msg)
	if s.cur.Expiration.After(now.Add(time.Minute)) {
		return s.cur, nil
	}
	return Credentials{}, err
}

type containerCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

type containerError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ServeHTTP answers GET with the current credentials as JSON; a request without the
// authorization token gets 403.
func (s *CredentialServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	got := r.Header.Get("Authorization")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.auth)) != 1 {
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(containerError{"AccessDenied", "missing or wrong Authorization header"})
		return
	}
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(containerError{"MethodNotAllowed", "use GET"})
		return
	}
	// A renewal outlives an impatient client, so that the next request finds it done.
	c, err := s.Current(context.WithoutCancel(r.Context()))
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(containerError{"RefreshFailed", "keyless could not renew the credentials; see its standard error"})
		return
	}
	_ = json.NewEncoder(w).Encode(containerCredentials{
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Token: c.SessionToken,
		Expiration: c.Expiration.UTC().Format(time.RFC3339),
	})
}

// Serve listens on a loopback port and serves s until stop is called; requests carry
// ctx. The returned variables point the SDKs' container credential provider at it.
func (s *CredentialServer) Serve(ctx context.Context) (vars []Var, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("credential endpoint: %w", err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      2 * time.Minute, // a renewal may retry for a while
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(s.log, "keyless: credential endpoint: %v\n", err)
		}
	}()
	stop = func() {
		_ = srv.Close()
		<-done
	}
	vars = []Var{
		{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://" + ln.Addr().String() + "/credentials"},
		{"AWS_CONTAINER_AUTHORIZATION_TOKEN", s.auth},
	}
	return vars, stop, nil
}
