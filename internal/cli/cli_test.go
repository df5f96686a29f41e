package cli

import (
	"errors"
	"strings"
	"testing"
)

type env struct{ calls *int }

type hello struct {
	Name string `arg:""`
}

func (h *hello) Run(e env) error {
	*e.calls++
	if h.Name == "fail" {
		return errors.New("failed on purpose")
	}
	return nil
}

type tree struct {
	Hello hello `cmd:""`
}

func TestRunEndsOnHelpAndUsageErrorsAndReturnsCommandErrors(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		code      int
		ended     bool
		err       string
		calls     int
		errOutput string
	}{
		{"a command that succeeds returns no error", []string{"hello", "x"}, 0, false, "", 1, ""},
		{"a command's error is returned, not printed", []string{"hello", "fail"}, 0, false, "failed on purpose", 1, ""},
		{"--help ends the run with status 0", []string{"--help"}, 0, true, "", 0, ""},
		{"an unknown flag ends the run with status 2 and says so", []string{"hello", "x", "--nope"}, 2, true, "", 0, "unknown flag --nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errw strings.Builder
			calls := 0
			code, ended, err := Run(&tree{}, tt.args, "demo", "a demo", &out, &errw, env{&calls})
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if code != tt.code || ended != tt.ended || gotErr != tt.err || calls != tt.calls || !strings.Contains(errw.String(), tt.errOutput) {
				t.Errorf("got code %d ended %v err %q calls %d stderr %q; want %d %v %q %d containing %q",
					code, ended, gotErr, calls, errw.String(), tt.code, tt.ended, tt.err, tt.calls, tt.errOutput)
			}
		})
	}
}
