package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/keyless-dev/keyless/internal/audit"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/credentials"
	"github.com/keyless-dev/keyless/internal/idtoken"
	"github.com/keyless-dev/keyless/internal/issuer"
	"github.com/keyless-dev/keyless/internal/keys"
	"github.com/keyless-dev/keyless/internal/store"
	"github.com/keyless-dev/keyless/internal/store/postgres"
	"github.com/keyless-dev/keyless/internal/store/sqlite"
)

// keyRefresh is how often a node reloads keys that another node (or `keylessd keys
// rotate`) wrote, and how long a new key is published before it signs or seals (so that
// every node knows it before any token needs it): a rotation is in use everywhere within
// this interval, well inside the 5 seconds issue 8 allows. On PostgreSQL, NOTIFY makes
// nodes load a new key at once; the polling is the fallback.
const keyRefresh = 3 * time.Second

// revocationRefresh is how often a node reloads the shared revocation list: every node
// refuses a revoked session within this interval.
const revocationRefresh = 2 * time.Second

// maxMintTTL is the longest lifetime of a token the issuer mints.
const maxMintTTL = 24 * time.Hour

// parts are the components a node is built from; each surface may be absent.
type parts struct {
	sts, s3, oidc, admin http.Handler
	background           []task
	closers              []func()
	// reloaders take a new configuration on SIGHUP (already validated as a whole).
	reloaders []func(*config.Config)

	store    store.Store
	signing  *keys.SigningRing
	sealing  *keys.SealingRing
	issuer   *issuer.Issuer
	sealer   *credentials.Sealer
	verifier *idtoken.Verifier
	audit    *audit.Writer
	revoked  *credentials.RevocationList
}

type task struct {
	name string
	run  func(ctx context.Context) error
}

func (p *parts) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// Paths inside data_dir.
const (
	dbFile        = "keyless.db"
	masterKeyFile = "master.key"
	auditFile     = "audit.jsonl"
)

// OpenStore opens the node's store: PostgreSQL when database_url is set, else SQLite
// in data_dir (created with mode 0700 if missing).
func OpenStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.DatabaseURL != "" {
		db, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("opening the PostgreSQL store: %w", err)
		}
		return db, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data_dir: %w", err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, dbFile))
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	return db, nil
}

// KeyOptions are the ring options every node and admin command derives from the
// configuration, so that they agree.
func KeyOptions(cfg *config.Config, st store.Keys, master []byte, now func() time.Time) (signing, sealing keys.Options) {
	signing = keys.Options{Store: st, MasterKey: master, Algorithm: cfg.Issuer.Algorithm,
		RotateEvery: cfg.Issuer.RotateEvery.D(), MaxLifetime: maxMintTTL, Refresh: keyRefresh, Now: now}
	sealing = keys.Options{Store: st, MasterKey: master, Algorithm: keys.A256GCM,
		RotateEvery: cfg.Issuer.RotateEvery.D(), MaxLifetime: keys.DefaultMaxSessionLifetime, Refresh: keyRefresh, Now: now}
	return signing, sealing
}

// LoadMasterKey loads (or creates) the master key that seals key material at rest.
func LoadMasterKey(cfg *config.Config) ([]byte, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data_dir: %w", err)
	}
	return keys.LoadOrCreateMasterKey(filepath.Join(cfg.DataDir, masterKeyFile))
}

// build opens the store and creates every component from the configuration.
func (s *Server) build(ctx context.Context) (_ *parts, err error) {
	p := &parts{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	cfg := s.cfg
	if p.store, err = OpenStore(ctx, cfg); err != nil {
		return nil, err
	}
	p.closers = append(p.closers, func() { _ = p.store.Close() })
	s.addReadyCheck("store", p.store.Ping)

	master, err := LoadMasterKey(cfg)
	if err != nil {
		return nil, err
	}
	signOpts, sealOpts := KeyOptions(cfg, p.store, master, s.now)
	signOpts.Logger, sealOpts.Logger = s.log, s.log
	if cfg.Issuer.On() {
		if err := s.buildIssuer(ctx, p, signOpts); err != nil {
			return nil, err
		}
	}
	if p.sealing, err = keys.NewSealingRing(ctx, sealOpts); err != nil {
		return nil, fmt.Errorf("loading sealing keys: %w", err)
	}
	p.background = append(p.background, task{"sealing keys", p.sealing.Maintain})
	p.sealer = credentials.NewSealer(sealingKeys{p.sealing}, s.now)
	p.revoked = credentials.NewRevocationList(p.store, s.now)
	if err := p.revoked.Refresh(ctx); err != nil {
		return nil, err
	}
	p.background = append(p.background, task{"revocations", func(ctx context.Context) error {
		return p.revoked.Run(ctx, revocationRefresh)
	}})

	if p.verifier, err = s.buildVerifier(s.cfg, p); err != nil {
		return nil, err
	}
	auditPath := filepath.Join(cfg.DataDir, auditFile)
	// Events the last run wrote to the file but did not live to store (deferred S3
	// reads), or that a power loss took from SQLite, go into the store first.
	offered, skipped, err := audit.RecoverTail(ctx, auditPath, p.store, audit.RecoverBytes)
	if err != nil {
		return nil, err
	}
	if skipped > 0 {
		s.log.Warn("audit log has lines that are not events (a torn write?); skipped", "lines", skipped)
	}
	s.log.Debug("audit log tail given to the store", "events", offered)
	if p.audit, err = audit.NewWriter(audit.WriterOptions{Store: p.store, File: auditPath, Logger: s.log}); err != nil {
		return nil, err
	}
	p.closers = append(p.closers, func() { _ = p.audit.Close() })
	p.background = append(p.background, task{"audit writer", p.audit.Run})
	s.listenForChanges(p)
	if err := s.buildSurfaces(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) buildIssuer(ctx context.Context, p *parts, opts keys.Options) error {
	var err error
	if p.signing, err = keys.NewSigningRing(ctx, opts); err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	p.background = append(p.background, task{"signing keys", p.signing.Maintain})
	secret, err := keys.LoadOrCreateSecretFile(s.cfg.Issuer.MintSecretFile)
	if err != nil {
		return fmt.Errorf("issuer.mint_secret_file: %w", err)
	}
	p.issuer, err = issuer.New(issuer.Options{
		PublicURL: s.cfg.PublicURL, Orgs: s.cfg.Issuer.Orgs, Algorithm: s.cfg.Issuer.Algorithm,
		TokenTTL: s.cfg.Issuer.TokenTTL.D(), MintSecret: secret, Keys: p.signing, Now: s.now, Logger: s.log,
	})
	if err != nil {
		return err
	}
	p.oidc = p.issuer.Handler()
	return nil
}

func (s *Server) buildVerifier(cfg *config.Config, p *parts) (*idtoken.Verifier, error) {
	providers := make([]idtoken.Provider, len(cfg.Providers))
	for i, pr := range cfg.Providers {
		providers[i] = idtoken.Provider{URL: pr.URL, ClientIDs: pr.ClientIDs, Thumbprints: pr.Thumbprints}
	}
	opts := idtoken.Options{Providers: providers, AllowHTTPLoopback: cfg.Dev, Now: s.now, Logger: s.log}
	if p.issuer != nil {
		opts.LocalKeys = p.issuer
	}
	v, err := idtoken.New(opts)
	if err != nil {
		return nil, fmt.Errorf("providers: %w", err)
	}
	return v, nil
}

// sealingKeys adapts the sealing ring to what credentials.Sealer consumes.
type sealingKeys struct{ r *keys.SealingRing }

func (k sealingKeys) SealingKey() (string, []byte, error) {
	cur, err := k.r.Current()
	if err != nil {
		return "", nil, err
	}
	return cur.ID, cur.Key, nil
}

func (k sealingKeys) OpeningKey(kid string) ([]byte, bool) {
	key, err := k.r.Lookup(kid)
	if err != nil {
		return nil, false
	}
	return key.Key, true
}

// listenForChanges makes a node on PostgreSQL pick up keys and revocations that another
// node wrote as soon as they are committed (LISTEN/NOTIFY). The periodic refreshes stay as
// the fallback, and are all the embedded store needs (one node).
func (s *Server) listenForChanges(p *parts) {
	pg, ok := p.store.(*postgres.DB)
	if !ok {
		return
	}
	reloadKeys := func(ctx context.Context) {
		if p.signing != nil {
			if err := p.signing.Reload(ctx); err != nil {
				s.log.Warn("reloading signing keys after a change", "err", err)
			}
		}
		if err := p.sealing.Reload(ctx); err != nil {
			s.log.Warn("reloading sealing keys after a change", "err", err)
		}
	}
	p.background = append(p.background,
		task{"key change listener", func(ctx context.Context) error {
			return pg.Listen(ctx, postgres.ChannelKeys, func() { reloadKeys(ctx) })
		}},
		task{"revocation change listener", func(ctx context.Context) error {
			return pg.Listen(ctx, postgres.ChannelRevocations, func() {
				if err := p.revoked.Refresh(ctx); err != nil {
					s.log.Warn("refreshing revocations after a change", "err", err)
				}
			})
		}},
	)
}
