package idtoken_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyless-dev/keyless/internal/idtoken"
)

func TestHTTPClientIsHardened(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "elsewhere")
	}))
	t.Cleanup(other.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, strings.Repeat("x", idtoken.MaxResponseBytes+1))
		case "/limit":
			io.WriteString(w, strings.Repeat("x", idtoken.MaxResponseBytes))
		case "/same-host":
			http.Redirect(w, r, "/limit", http.StatusFound)
		case "/other-host":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name      string
		dev       bool
		url       string
		wantErr   bool
		wantBytes int
	}{
		{name: "plain http to loopback is allowed in dev", dev: true, url: srv.URL + "/limit", wantBytes: idtoken.MaxResponseBytes},
		{name: "plain http to loopback is refused outside dev", url: srv.URL + "/limit", wantErr: true},
		{name: "plain http to a public host is refused in dev", dev: true, url: "http://example.com/", wantErr: true},
		{name: "a body over the limit fails instead of being truncated", dev: true, url: srv.URL + "/big", wantErr: true},
		{name: "a redirect on the same host is followed", dev: true, url: srv.URL + "/same-host", wantBytes: idtoken.MaxResponseBytes},
		{name: "a redirect to another host is refused", dev: true, url: srv.URL + "/other-host", wantErr: true},
		{name: "a redirect loop stops", dev: true, url: srv.URL + "/loop", wantErr: true},
		{name: "a file url is refused", dev: true, url: "file:///etc/passwd", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := idtoken.NewHTTPClient(tc.dev)
			resp, err := c.Get(tc.url)
			var n int
			if err == nil {
				var b []byte
				b, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				n = len(b)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && n != tc.wantBytes {
				t.Errorf("read %d bytes, want %d", n, tc.wantBytes)
			}
		})
	}
}
