// Package server runs one keylessd node: it builds every component from the
// configuration, serves STS, S3, the OIDC issuer and the operational endpoints on one
// port, and owns every goroutine until its context ends.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyless-dev/keyless/internal/apierr"
	"github.com/keyless-dev/keyless/internal/config"
)

// Options are what a node needs beyond its configuration.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	// Listener, when set, is served instead of listening on Config.Listen (tests pass
	// a listener on 127.0.0.1:0).
	Listener net.Listener
	// AccessLog logs one line per request (method, path, status; never a query string).
	AccessLog bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// ConfigFile is the file the configuration came from, re-read on SIGHUP; empty for
	// the dev defaults (nothing to reload).
	ConfigFile string
}

// Server is one keylessd node.
type Server struct {
	cfg       *config.Config
	log       *slog.Logger
	now       func() time.Time
	accessLog bool
	reg       *prometheus.Registry
	metrics   *metrics
	ln        net.Listener
	handler   http.Handler

	parts      *parts
	configFile string
	cfgMu      sync.Mutex
	readyMu    sync.Mutex
	checks     []readyCheck
}

type readyCheck struct {
	name string
	fn   func(context.Context) error
}

// New builds a node: opens its store, loads or creates its keys and wires every
// surface. It listens (so Addr is known) but serves nothing until Run.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("server: no configuration")
	}
	s := &Server{
		cfg:        opts.Config,
		log:        opts.Logger,
		now:        opts.Now,
		accessLog:  opts.AccessLog,
		reg:        prometheus.NewRegistry(),
		configFile: opts.ConfigFile,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = newMetrics(s.reg)
	p, err := s.build(ctx)
	if err != nil {
		return nil, err
	}
	s.parts = p
	s.handler = s.routes()
	s.ln = opts.Listener
	if s.ln == nil {
		s.ln, err = net.Listen("tcp", s.cfg.Listen)
		if err != nil {
			s.parts.close()
			return nil, fmt.Errorf("listening on %s: %w", s.cfg.Listen, err)
		}
	}
	return s, nil
}

// Addr is the address the node listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Handler is the node's whole HTTP surface (for in-process tests).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) addReadyCheck(name string, fn func(context.Context) error) {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	s.checks = append(s.checks, readyCheck{name, fn})
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/-/healthz", s.instrument("ops", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})))
	mux.Handle("/-/readyz", s.instrument("ops", http.HandlerFunc(s.serveReady)))
	mux.Handle("/-/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	if h := s.parts.oidc; h != nil {
		mux.Handle("/-/oidc/", s.instrument("oidc", h))
	}
	if h := s.parts.admin; h != nil {
		mux.Handle("/-/api/v1/", s.instrument("admin", h))
	}
	mux.Handle("/-/", http.NotFoundHandler())
	sts := s.instrument("sts", orNotImplemented(s.parts.sts, "sts"))
	s3 := s.instrument("s3", orNotImplemented(s.parts.s3, "s3"))
	// STS and S3 are dispatched before the mux: ServeMux cleans paths and redirects
	// "//", "./" and "../", which are legal in S3 keys and must reach the gateway as sent.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/-/"):
			mux.ServeHTTP(w, r)
		case IsSTSRequest(r):
			sts.ServeHTTP(w, r)
		default:
			s3.ServeHTTP(w, r)
		}
	})
}

// IsSTSRequest tells STS's Query protocol apart from S3 on the shared port: STS is
// always on "/" with an Action, in the query string or a form body. (An S3 request on
// "/" is ListBuckets, a GET with no Action.)
func IsSTSRequest(r *http.Request) bool {
	if r.URL.Path != "/" {
		return false
	}
	if r.URL.Query().Has("Action") {
		return true
	}
	if r.Method != http.MethodPost {
		return false
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/x-www-form-urlencoded"
}

func orNotImplemented(h http.Handler, surface string) http.Handler {
	if h != nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := apierr.New("NotImplemented", http.StatusNotImplemented, "This node does not serve "+surface+".")
		if surface == "sts" {
			apierr.WriteSTS(w, e, RequestID(r.Context()), false)
			return
		}
		apierr.WriteS3(w, r, e, RequestID(r.Context()), "keyless")
	})
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	s.readyMu.Lock()
	checks := append([]readyCheck(nil), s.checks...)
	s.readyMu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var failed []string
	for _, c := range checks {
		if err := c.fn(ctx); err != nil {
			s.log.Warn("readiness check failed", "check", c.name, "err", err)
			failed = append(failed, c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + strings.Join(failed, ", ") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Run serves until ctx ends, then shuts down gracefully (in-flight requests get up to
// 10 seconds) and stops every background task it started.
func (s *Server) Run(ctx context.Context) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No whole-request Read/WriteTimeout: large objects stream for minutes. Handlers
		// set per-request deadlines through http.ResponseController; the STS handler
		// bounds its own body.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests and background tasks outlive ctx until Shutdown has let the in-flight
		// requests finish: a request must not see its context cancelled when shutdown
		// begins, and the audit writer must still commit its events.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, task := range s.parts.background {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := task.run(bgCtx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("background task stopped", "task", task.name, "err", err)
			}
		}()
	}
	if s.configFile != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.watchSIGHUP(bgCtx)
		}()
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLS.Enabled() {
			errc <- srv.ServeTLS(s.ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		} else {
			errc <- srv.Serve(s.ln)
		}
	}()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutdownCtx)
		cancel()
		if err != nil {
			_ = srv.Close() // requests still running after 10 s are cut off
		}
		<-errc
	}
	stopBG()
	wg.Wait()
	s.parts.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
