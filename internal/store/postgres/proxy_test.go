package postgres

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// proxy is a TCP proxy on loopback in front of the test database, which a test takes down
// (closing every connection and refusing new ones) and brings back up on the same port.
// In black-hole mode it accepts connections and never answers, like a server that hangs.
type proxy struct {
	t      testing.TB
	target string

	mu        sync.Mutex
	addr      string
	ln        net.Listener
	conns     map[net.Conn]struct{}
	blackHole bool
	wg        sync.WaitGroup
}

// startProxy starts a proxy to the database of conn and returns it with the connection
// string that goes through it.
func startProxy(t testing.TB, conn string) (*proxy, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(conn)
	if err != nil {
		t.Fatalf("parse the test database url: %v", err)
	}
	p := &proxy{t: t, target: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), conns: map[net.Conn]struct{}{}}
	p.up("127.0.0.1:0")
	t.Cleanup(p.down)
	host, port, _ := net.SplitHostPort(p.addr)
	return p, withParam(withParam(conn, "host", host), "port", port)
}

// up starts accepting on addr (the proxy's own address once it has one).
func (p *proxy) up(addr string) {
	p.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy: listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() { p.accept(ln) })
}

// restart brings a stopped proxy back on its address, forwarding or black-holing.
func (p *proxy) restart(blackHole bool) {
	p.t.Helper()
	p.mu.Lock()
	p.blackHole = blackHole
	p.mu.Unlock()
	p.up(p.addr)
}

// down closes the listener and every connection, and waits for the copying to end.
func (p *proxy) down() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil { // went down meanwhile
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Errorf("proxy: accept: %v", err)
			}
			return
		}
		p.mu.Lock()
		blackHole := p.blackHole
		p.mu.Unlock()
		if blackHole {
			if p.track(c) {
				p.wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
			}
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, s) {
			continue
		}
		p.wg.Go(func() { pipe(s, c) })
		p.wg.Go(func() { pipe(c, s) })
	}
}

// pipe copies from src to dst and then closes both.
func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}
