package server

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyless-dev/keyless/internal/config"
)

// Reload re-reads the configuration file and hands the new roles, providers and
// policies to every surface. A configuration with any problem is refused as a whole
// and the running one stays. Settings that shape the node itself (listen, data_dir,
// database_url, tls, issuer keys) need a restart; a reload that changes them says so.
func (s *Server) Reload() error {
	if s.configFile == "" {
		return nil
	}
	cfg, err := config.Load(s.configFile)
	if err != nil {
		s.log.Error("configuration reload refused; keeping the running configuration", "file", s.configFile, "err", err)
		return err
	}
	old := s.currentConfig()
	if cfg.Listen != old.Listen || cfg.DataDir != old.DataDir || cfg.DatabaseURL != old.DatabaseURL ||
		cfg.TLS != old.TLS || cfg.PublicURL != old.PublicURL {
		s.log.Warn("listen, public_url, data_dir, database_url and tls changes take effect at the next restart")
	}
	for _, apply := range s.parts.reloaders {
		apply(cfg)
	}
	s.cfgMu.Lock()
	s.cfg = cfg
	s.cfgMu.Unlock()
	s.log.Info("configuration reloaded", "file", s.configFile, "roles", len(cfg.Roles), "providers", len(cfg.Providers))
	return nil
}

func (s *Server) currentConfig() *config.Config {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	return s.cfg
}

// watchSIGHUP reloads on every SIGHUP until ctx ends.
func (s *Server) watchSIGHUP(ctx context.Context) error {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
			_ = s.Reload() // logged inside
		}
	}
}
