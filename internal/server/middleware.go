package server

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/keyless-dev/keyless/internal/apierr"

	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the id the middleware gave this request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// statusWriter records the status and size of a response for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyless_http_requests_total",
			Help: "HTTP requests served, by surface (sts, s3, oidc, admin, ops) and status code.",
		}, []string{"surface", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyless_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by surface.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5, 30},
		}, []string{"surface"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// instrument wraps a surface's handler with request id, panic recovery, metrics and
// the access log. The access log names the method, path, status and size only: never
// a query string (presigned URLs carry signatures and session tokens there) or a header.
func (s *Server) instrument(surface string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := apierr.NewUUID()
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "request_id", id, "surface", surface, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					http.Error(sw, "internal error", http.StatusInternalServerError)
				}
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			s.metrics.requests.WithLabelValues(surface, strconv.Itoa(code)).Inc()
			s.metrics.duration.WithLabelValues(surface).Observe(time.Since(start).Seconds())
			// STS and S3 requests each have an audit event; their access lines are Debug
			// so that the hot path does not format a second record of every call.
			level := slog.LevelInfo
			if surface == "sts" || surface == "s3" {
				level = slog.LevelDebug
			}
			if s.accessLog && s.log.Enabled(r.Context(), level) {
				s.log.LogAttrs(r.Context(), level, "request",
					slog.String("request_id", id), slog.String("surface", surface),
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", code), slog.Int64("bytes", sw.bytes),
					slog.Duration("took", time.Since(start)), slog.String("remote", r.RemoteAddr))
			}
		}()
		h.ServeHTTP(sw, r)
	})
}
