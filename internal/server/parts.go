package server

import (
	"context"
	"net/http"
)

// parts are the components a node is built from; each surface may be absent.
type parts struct {
	sts, s3, oidc, admin http.Handler
	background           []task
	closers              []func()
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

// build opens the store and creates every component from the configuration.
func (s *Server) build(ctx context.Context) (*parts, error) {
	p := &parts{}
	return p, nil
}
