package store

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestMigrationsAreListedInVersionOrderAndBadNamesRefused(t *testing.T) {
	good := fstest.MapFS{"m/0010_ten.sql": {}, "m/0002_two.sql": {}, "m/0001_one.sql": {}}
	got, err := Migrations(good, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{{1, "0001_one.sql"}, {2, "0002_two.sql"}, {10, "0010_ten.sql"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"m/init.sql", "m/0000_zero.sql", "m/x1_a.sql"} {
		if _, err := Migrations(fstest.MapFS{bad: {}}, "m"); err == nil {
			t.Errorf("%s was accepted as a migration name", bad)
		}
	}
}
