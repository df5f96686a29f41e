package server

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReloadKeepsTheRunningConfigurationWhenTheNewOneIsBad(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	file := filepath.Join(dir, "keyless.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := "account_id: \"123456789012\"\nlisten: " + ln.Addr().String() + "\nissuer: {enabled: false}\nbuckets: [site]\n"
	write(base)
	cfg, err := loadForTest(file)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(t.Context(), Options{Config: cfg, Listener: ln, ConfigFile: file})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.parts.close)

	write(base + "roles:\n  - name: bad role\n")
	if err := srv.Reload(); err == nil || !strings.Contains(err.Error(), "roles[0].name") {
		t.Fatalf("Reload of a bad file = %v, want the problem named", err)
	}
	if got := srv.currentConfig().Buckets; len(got) != 1 || got[0] != "site" {
		t.Errorf("running configuration changed after a refused reload: buckets %v", got)
	}

	write(strings.Replace(base, "[site]", "[site, other-site]", 1))
	var applied int
	srv.parts.reloaders = append(srv.parts.reloaders, func(c *configT) { applied = len(c.Buckets) })
	if err := srv.Reload(); err != nil {
		t.Fatalf("Reload of a good file: %v", err)
	}
	if applied != 2 || len(srv.currentConfig().Buckets) != 2 {
		t.Errorf("good reload not applied: surfaces saw %d buckets, server has %d", applied, len(srv.currentConfig().Buckets))
	}
}
