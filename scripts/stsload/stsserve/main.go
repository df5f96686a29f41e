// Command stsserve serves keyless's STS handler alone on a loopback port, with the real
// verifier, sealer and SQLite-backed audit writer, a built-in RS256 issuer whose keys
// the verifier reads in process, the seed's trust policy and no rate limits, plus
// Prometheus process metrics on /-/metrics. It writes a valid token to --token-file and
// stops by itself after --duration. It exists to measure STS with stsload independently
// of keylessd:
//
//	go run ./scripts/stsload/stsserve --listen 127.0.0.1:8711 --token-file /tmp/token --duration 2m &
//	go run ./scripts/stsload --endpoint http://127.0.0.1:8711 --token-file /tmp/token \
//	    --role-arn arn:aws:iam::123456789012:role/CircleCI-OIDC-Role --concurrency 32 --duration 10s
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/policy"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
	"github.com/keyless-dev/keyless/internal/sts"
)

const (
	org      = config.DevOrg
	project  = "9c8d7e6f-1a2b-3c4d-5e6f-7a8b9c0d1e2f"
	issuer   = "https://oidc.circleci.com/org/" + org
	kid      = "stsserve-1"
	maxRun   = 30 * time.Minute
	trustFmt = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Federated": "arn:aws:iam::%[1]s:oidc-provider/%[2]s"},
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": {"StringEquals": {"%[2]s:aud": "%[3]s"},
                "StringLike": {"%[2]s:sub": "org/%[3]s/project/%[4]s/user/*"}}}]}`
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stsserve:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8711", "loopback address to serve on")
	dataDir := flag.String("data-dir", "", "folder for the audit database and file (default: a new temporary folder)")
	tokenFile := flag.String("token-file", "", "write a valid web identity token here (mode 0600)")
	duration := flag.Duration("duration", 2*time.Minute, "stop after this long (at most 30m)")
	flag.Parse()
	if *duration <= 0 || *duration > maxRun {
		return fmt.Errorf("--duration must be more than 0 and at most %s", maxRun)
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %s is not a loopback address", *listen)
	}
	if *dataDir == "" {
		if *dataDir, err = os.MkdirTemp("", "stsserve-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dataDir)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if *tokenFile != "" {
		tok, err := mint(key, time.Now())
		if err != nil {
			return err
		}
		if err := os.WriteFile(*tokenFile, []byte(tok+"\n"), 0o600); err != nil {
			return err
		}
	}
	h, stopAudit, err := handler(ctx, key, *dataDir, log)
	if err != nil {
		return err
	}
	defer stopAudit()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/-/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", h)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving STS", "listen", *listen, "until", time.Now().Add(*duration).Format(time.TimeOnly))
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutdown, cancelShutdown := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutdown)
		cancelShutdown()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// handler builds the STS handler; stopAudit stops the audit writer once nothing calls it.
func handler(ctx context.Context, key *rsa.PrivateKey, dir string, log *slog.Logger) (_ http.Handler, stopAudit func(), _ error) {
	host := issuer[len("https://"):]
	trust := fmt.Sprintf(trustFmt, config.DevAccountID, host, org, project)
	compiled, err := policy.ParseAndCompile([]byte(trust), policy.KindTrust)
	if err != nil {
		return nil, nil, err
	}
	none := 0.0
	cfg := &config.Config{AccountID: config.DevAccountID, Region: "us-east-1",
		Providers: []config.Provider{{URL: issuer, ClientIDs: []string{org}}},
		Roles: []config.Role{{Name: config.DevRole, Path: "/", MaxSessionDuration: config.Duration(time.Hour),
			TrustPolicy: config.PolicySource{JSON: []byte(trust), Compiled: compiled}}},
		RateLimits: config.RateLimits{PerSourceIP: &none, PerRole: &none}}
	v, err := idtoken.New(idtoken.Options{Providers: sts.IDTokenProviders(cfg), Logger: log,
		LocalKeys: localKeys{pub: &key.PublicKey}})
	if err != nil {
		return nil, nil, err
	}
	sealKey := make([]byte, 32)
	_, _ = rand.Read(sealKey)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "keyless.db"))
	if err != nil {
		return nil, nil, err
	}
	w, err := audit.NewWriter(audit.WriterOptions{Store: db, File: filepath.Join(dir, "audit.jsonl"), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	auditCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(auditCtx)
	}()
	stopAudit = func() {
		cancel()
		<-done
		_ = w.Close()
		_ = db.Close()
	}
	h, err := sts.New(sts.Options{Config: cfg, Verifier: v, Sealer: credentials.NewSealer(sealKeys{sealKey}, nil),
		Audit: w, Logger: log})
	if err != nil {
		stopAudit()
		return nil, nil, err
	}
	return h, stopAudit, nil
}

// localKeys serves the one verification key, as the built-in issuer does for keylessd.
type localKeys struct{ pub *rsa.PublicKey }

func (k localKeys) PublicKey(_ context.Context, issuerURL, id string) (crypto.PublicKey, string, error) {
	if issuerURL != issuer {
		return nil, "", idtoken.ErrNotLocal
	}
	if id != kid {
		return nil, "", fmt.Errorf("no key %q", id)
	}
	return k.pub, "RS256", nil
}

type sealKeys struct{ key []byte }

func (k sealKeys) SealingKey() (string, []byte, error) { return "s1", k.key, nil }
func (k sealKeys) OpeningKey(id string) ([]byte, bool) { return k.key, id == "s1" }

// mint signs a CircleCI-shaped token for the seed's project, valid for an hour.
func mint(key *rsa.PrivateKey, now time.Time) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"iss": issuer, "aud": org, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": fmt.Sprint(now.UnixNano()),
		"sub":                          "org/" + org + "/project/" + project + "/user/0a1b2c3d/vcs-origin/github.com/acme/site/vcs-ref/refs/heads/main",
		"oidc.circleci.com/project-id": project,
		"oidc.circleci.com/vcs-ref":    "refs/heads/main",
	})
	if err != nil {
		return "", err
	}
	sig, err := signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return sig.CompactSerialize()
}
