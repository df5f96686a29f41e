package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/keys"
	"github.com/keyless-dev/keyless/internal/s3gw"
	"github.com/keyless-dev/keyless/internal/s3gw/fsbackend"
	"github.com/keyless-dev/keyless/internal/s3gw/s3backend"
	"github.com/keyless-dev/keyless/internal/sts"
)

// buildSurfaces creates the STS and S3 handlers from the built parts.
func (s *Server) buildSurfaces(ctx context.Context, p *parts) error {
	stsH, err := sts.New(sts.Options{
		Config: s.cfg, Verifier: p.verifier, Sealer: p.sealer, Audit: p.audit, Logger: s.log, Now: s.now,
		RequestID: func(r *http.Request) string { return RequestID(r.Context()) },
		Revoked:   p.revoked.Revoked,
	})
	if err != nil {
		return fmt.Errorf("sts: %w", err)
	}
	p.sts = stsH

	backend, err := s.openBackend(ctx, p)
	if err != nil {
		return err
	}
	if err := createBuckets(ctx, backend, s.cfg.Buckets); err != nil {
		return err
	}
	secrets, err := operatorSecrets(s.cfg)
	if err != nil {
		return err
	}
	gw, err := s3gw.New(s3gw.Options{
		Config: s.cfg, Backend: backend, Sealer: p.sealer, OperatorSecrets: secrets, Audit: p.audit,
		Revoked: p.revoked.Revoked, Logger: s.log, Now: s.now,
		RequestID:        func(r *http.Request) string { return RequestID(r.Context()) },
		RevocationsStale: s.revocationsStale(p),
	})
	if err != nil {
		return fmt.Errorf("s3 gateway: %w", err)
	}
	p.s3 = gw

	p.reloaders = append(p.reloaders, func(cfg *config.Config) {
		if v, err := s.buildVerifier(cfg, p); err != nil {
			s.log.Error("reload: providers not applied", "err", err)
		} else {
			stsH.SetVerifier(v)
		}
		if err := stsH.SetConfig(cfg); err != nil {
			s.log.Error("reload: sts configuration not applied", "err", err)
		}
		if err := createBuckets(context.Background(), backend, cfg.Buckets); err != nil {
			s.log.Error("reload: creating buckets", "err", err)
		}
		secrets, err := operatorSecrets(cfg)
		if err == nil {
			err = gw.SetOperatorSecrets(cfg, secrets)
		}
		if err != nil {
			s.log.Error("reload: s3 configuration not applied", "err", err)
		}
	})
	return nil
}

func (s *Server) openBackend(ctx context.Context, p *parts) (s3gw.Backend, error) {
	switch s.cfg.Objects.Backend {
	case "filesystem":
		b, err := fsbackend.New(ctx, s.cfg.Objects.Dir, fsbackend.Options{Now: s.now, Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("objects: %w", err)
		}
		p.closers = append(p.closers, func() { _ = b.Close() })
		return b, nil
	case "s3":
		u := s.cfg.Objects.S3
		raw, err := os.ReadFile(u.SecretAccessKeyFile)
		if err != nil {
			return nil, fmt.Errorf("objects.s3.secret_access_key_file: %w", err)
		}
		secret := strings.TrimSpace(string(raw))
		if secret == "" {
			return nil, errors.New("objects.s3.secret_access_key_file: the file is empty")
		}
		b, err := s3backend.New(s3backend.Options{Endpoint: u.Endpoint, Region: u.Region, AccessKeyID: u.AccessKeyID,
			SecretAccessKey: secret, Now: s.now, Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("objects: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("objects.backend %q is not available in this build", s.cfg.Objects.Backend)
	}
}

// maxRevocationAge is how long a node trusts its copy of the revocation list when the
// store cannot be reached: sessions keep working through a short outage, but a node cut
// off for longer answers 503 rather than ignore revocations it cannot see.
const maxRevocationAge = 5 * time.Minute

func (s *Server) revocationsStale(p *parts) func() error {
	return func() error {
		if age := p.revoked.Age(); age > maxRevocationAge {
			return fmt.Errorf("revocation list last refreshed %s ago (limit %s)", age.Round(time.Second), maxRevocationAge)
		}
		return nil
	}
}

// createBuckets creates the configured buckets that do not exist yet.
func createBuckets(ctx context.Context, b s3gw.Backend, names []string) error {
	for _, name := range names {
		err := b.CreateBucket(ctx, name)
		if err != nil && !errors.Is(err, s3gw.ErrBucketAlreadyOwnedByYou) {
			return fmt.Errorf("creating bucket %s: %w", name, err)
		}
	}
	return nil
}

// operatorSecrets loads (or creates) each operator key's secret file.
func operatorSecrets(cfg *config.Config) (map[string]string, error) {
	out := make(map[string]string, len(cfg.OperatorKeys))
	for i, k := range cfg.OperatorKeys {
		secret, err := keys.LoadOrCreateSecretFile(k.SecretAccessKeyFile)
		if err != nil {
			return nil, fmt.Errorf("operator_keys[%d].secret_access_key_file: %w", i, err)
		}
		out[k.AccessKeyID] = string(secret)
	}
	return out, nil
}
