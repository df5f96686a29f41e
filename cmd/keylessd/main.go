// Command keylessd is the keyless server: with no arguments a working dev server on
// 127.0.0.1:8700 with its state in ./keyless-data; with --config FILE a configured node.
// Admin subcommands (key rotation, revocation, audit queries, config checks) live here too.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/keyless-dev/keyless/internal/cli"
	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/server"
)

type cliTree struct {
	Serve       serveCmd       `cmd:"" default:"withargs" help:"Run the server (the default): the dev server without --config."`
	CheckConfig checkConfigCmd `cmd:"" name:"check-config" help:"Load and validate a configuration, listing every problem."`
	Keys        keysCmd        `cmd:"" help:"Signing and sealing keys: rotate, list."`
	Sessions    sessionsCmd    `cmd:"" help:"Revoke sessions."`
	Audit       auditCmd       `cmd:"" help:"Query audit events."`
	Demo        demoCmd        `cmd:"" help:"The whole story, allowed and denied, explained: a dev node in a temporary folder, real clients."`
}

type stdio struct {
	Out io.Writer
	Err io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], stdio{Out: os.Stdout, Err: os.Stderr}))
}

func run(args []string, io stdio) int {
	code, ended, err := cli.Run(&cliTree{}, args, "keylessd",
		"keyless server: STS, S3 gateway and CI token issuer. With no arguments: a dev server on 127.0.0.1:8700.",
		io.Out, io.Err, io)
	if ended {
		return code
	}
	if err != nil {
		fmt.Fprintln(io.Err, "keylessd:", err)
		var probs config.Problems
		if errors.As(err, &probs) {
			return 2
		}
		return 1
	}
	return 0
}

type serveCmd struct {
	Config string `help:"Configuration file (YAML). Without it, the dev server with embedded defaults." type:"path"`
	Listen string `help:"Address to listen on, overriding the configuration's listen (public_url is kept, so several nodes can serve one public_url)."`
	Dir    string `help:"Dev server only: folder that holds keyless-data (default: the working directory)." default:"."`
	// ClockOffset exists for testing what happens later or earlier (expired tokens and
	// sessions, time conditions) against real clients; refused unless dev: true.
	ClockOffset time.Duration `name:"clock-offset" help:"Dev only: shift this node's clock (e.g. -2h mints tokens and sessions that are already expired elsewhere)."`
}

func (s *serveCmd) Run(io stdio) error {
	cfg, err := s.load()
	if err != nil {
		return err
	}
	logger := newLogger(io.Err, cfg.Dev)
	tuneGC()
	now := time.Now
	if s.ClockOffset != 0 {
		if !cfg.Dev {
			return errors.New("--clock-offset is for testing and needs dev: true in the configuration")
		}
		logger.Warn("this node's clock is shifted", "offset", s.ClockOffset)
		now = func() time.Time { return time.Now().Add(s.ClockOffset) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, server.Options{Config: cfg, Logger: logger, AccessLog: true, ConfigFile: s.Config, Now: now})
	if err != nil {
		return err
	}
	logger.Info("keylessd listening", "addr", srv.Addr(), "public_url", cfg.PublicURL, "data_dir", cfg.DataDir, "dev", cfg.Dev)
	if s.Config == "" {
		printDevBanner(io.Out, cfg)
	}
	return srv.Run(ctx)
}

// Garbage collector settings of the server, unless GOGC or GOMEMLIMIT say otherwise.
// Every STS call allocates ~35 KB (request, token, credentials, the audit event) while
// the live heap stays a few MiB, so with Go's default GOGC=100 the collector ran every
// few milliseconds under load and took ~10 % of keylessd's CPU (docs/sts.md). GOGC=400
// lets the heap grow to five times the live data between collections; the memory limit
// bounds that growth: when the Go heap nears 64 MiB the collector runs earlier whatever
// GOGC says, which keeps keylessd's peak RSS under the 100 MiB of the S3 memory test
// (four concurrent 1 GiB uploads, internal/cluster; docs/s3-performance.md).
const (
	serverGCPercent   = 400
	serverMemoryLimit = 64 << 20
)

func tuneGC() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(serverGCPercent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(serverMemoryLimit)
	}
}

func (s *serveCmd) load() (*config.Config, error) {
	if s.Config == "" {
		return config.Dev(s.Dir, s.Listen)
	}
	cfg, err := config.Load(s.Config)
	if err != nil {
		return nil, err
	}
	if s.Listen != "" {
		cfg.Listen = s.Listen
	}
	return cfg, nil
}

func newLogger(w io.Writer, dev bool) *slog.Logger {
	if dev {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type checkConfigCmd struct {
	File   string `arg:"" optional:"" help:"Configuration file." type:"path"`
	Config string `help:"Configuration file (same as the argument)." type:"path"`
}

func (c *checkConfigCmd) Run(io stdio) error {
	path := c.File
	if path == "" {
		path = c.Config
	}
	if path == "" {
		return errors.New("check-config needs a configuration file: keylessd check-config FILE")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "%s: ok (%d providers, %d roles, %d buckets)\n", path, len(cfg.Providers), len(cfg.Roles), len(cfg.Buckets))
	return nil
}
