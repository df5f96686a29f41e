package internal_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/keyless-dev/keyless"

// rank places every internal package in the layering of STYLE.md: a package may
// import internal packages of its own rank or lower, never higher. A new package must
// be placed here before it can be used, so that the layering is decided, not drifted into.
var rank = map[string]int{
	"internal/apierr": 1,
	"internal/cli":    1,
	"internal/policy": 1,
	"internal/sigv4":  1,

	"internal/config":          2,
	"internal/idtoken":         2,
	"internal/keys":            2,
	"internal/credentials":     2,
	"internal/audit":           2,
	"internal/store":           2,
	"internal/store/sqlite":    2,
	"internal/store/postgres":  2,
	"internal/store/storetest": 2,
	"internal/oidctest":        2,
	"internal/s3gw/fsbackend":  3,
	"internal/s3gw/s3backend":  3,
	"internal/issuer":          3,
	"internal/sts":             3,
	"internal/s3gw":            3,
	"internal/server":          4,
	"internal/client":          4,
	"internal/demo":            5,
	"internal/cluster":         5,
}

type pkg struct {
	ImportPath string
	Deps       []string
}

func listDeps(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	args := append([]string{"list", "-json=ImportPath,Deps"}, patterns...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func internalName(path string) (string, bool) {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok || !strings.HasPrefix(rel, "internal/") {
		return "", false
	}
	return rel, true
}

func TestInternalPackagesOnlyImportTheirOwnLayerOrLower(t *testing.T) {
	for _, p := range listDeps(t, module+"/internal/...") {
		name, isInternal := internalName(p.ImportPath)
		if !isInternal {
			continue // the directory of this test itself
		}
		r, ok := rank[name]
		if !ok {
			t.Errorf("%s has no place in the layering: add it to rank in layering_test.go", name)
			continue
		}
		for _, d := range p.Deps {
			dn, ok := internalName(d)
			if !ok {
				continue
			}
			if dr, known := rank[dn]; known && dr > r {
				t.Errorf("%s (layer %d) imports %s (layer %d): lower layers must not depend on higher ones", name, r, dn, dr)
			}
		}
	}
}

func TestPureLayerImportsNoOtherInternalPackage(t *testing.T) {
	for _, p := range listDeps(t, module+"/internal/...") {
		name, _ := internalName(p.ImportPath)
		if rank[name] != 1 {
			continue
		}
		for _, d := range p.Deps {
			if dn, ok := internalName(d); ok {
				t.Errorf("%s is a pure package but imports %s", name, dn)
			}
		}
	}
}

func TestClientBinaryLinksNoStoreServerOrDatabaseDriver(t *testing.T) {
	forbidden := []string{
		module + "/internal/store",
		module + "/internal/server",
		"modernc.org/sqlite",
		"github.com/jackc/pgx",
		"database/sql",
	}
	for _, p := range listDeps(t, module+"/cmd/keyless") {
		for _, d := range p.Deps {
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("cmd/keyless links %s, which the client must not (STYLE.md layering)", d)
				}
			}
		}
	}
}
