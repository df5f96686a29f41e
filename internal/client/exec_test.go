//go:build unix

package client

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func helperCommand(t *testing.T, mode string) Command {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Command{Args: []string{self}, Env: append(os.Environ(), helperEnv+"="+mode), Stdin: strings.NewReader("")}
}

func TestExecPassesTheExitStatusThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mode    string
		args    []string
		want    int
		wantErr bool
	}{
		{"success is 0", "exit:0", nil, 0, false},
		{"a failure keeps its status", "exit:3", nil, 3, false},
		{"a high status is kept", "exit:255", nil, 255, false},
		{"death by SIGKILL is 128+9, as shells report it", "kill", nil, 137, false},
		{"a missing program is 127", "", []string{"keyless-no-such-program-here"}, 127, true},
		{"a file that is not executable is 126", "", []string{"./exec_test.go"}, 126, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := helperCommand(t, tt.mode)
			if tt.args != nil {
				c.Args = tt.args
			}
			got, err := Exec(t.Context(), c)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("Exec = %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// runSignalled starts the signal helper, waits until it listens, sends sigs and
// returns what it reported and its status.
func runSignalled(t *testing.T, keyboardReachesChild bool, sigs ...os.Signal) (string, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ch := make(chan os.Signal, len(sigs))
	c := helperCommand(t, "signal")
	c.Stdout, c.Stderr, c.Signals, c.KeyboardSignalsReachChild = w, w, ch, keyboardReachesChild
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Exec(t.Context(), c)
		w.Close()
		done <- result{s, err}
	}()
	out := bufio.NewReader(r)
	if line, err := out.ReadString('\n'); line != "ready\n" {
		t.Fatalf("helper said %q (%v), want ready", line, err)
	}
	for _, s := range sigs {
		ch <- s
	}
	rest, _ := out.ReadString('\n')
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	return strings.TrimSpace(rest), res.status
}

func TestExecForwardsSignals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		keyboard bool
		sigs     []os.Signal
		want     string
	}{
		{"SIGTERM reaches the program", false, []os.Signal{syscall.SIGTERM}, "got terminated"},
		{"SIGHUP reaches the program", false, []os.Signal{syscall.SIGHUP}, "got hangup"},
		{"SIGINT is forwarded when no terminal sends it", false, []os.Signal{syscall.SIGINT}, "got interrupt"},
		{"SIGINT is not forwarded twice when the terminal already sent it", true, []os.Signal{syscall.SIGINT, syscall.SIGTERM}, "got terminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, status := runSignalled(t, tt.keyboard, tt.sigs...)
			if got != tt.want || status != 42 {
				t.Errorf("helper reported %q and exited %d, want %q and 42", got, status, tt.want)
			}
		})
	}
}

func TestExecGivesTheProgramTheEnvironment(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := helperCommand(t, "env:AWS_ACCESS_KEY_ID,AWS_PROFILE,KEEP")
	base := append(c.Env, "AWS_ACCESS_KEY_ID=AKIAOLD", "AWS_PROFILE=dev", "KEEP=yes")
	c.Env = ChildEnv(base, []string{"AWS_PROFILE"}, []Var{{"AWS_ACCESS_KEY_ID", "ASIANEW"}})
	c.Stdout = &out
	if status, err := Exec(t.Context(), c); status != 0 || err != nil {
		t.Fatalf("Exec = %d, %v", status, err)
	}
	want := "AWS_ACCESS_KEY_ID=ASIANEW set=true\nAWS_PROFILE= set=false\nKEEP=yes set=true\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}
