package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Exit statuses for a command that could not be run, as POSIX shells use them.
const (
	ExitNotExecutable = 126
	ExitNotFound      = 127
)

// Command is a program to run with credentials in its environment.
type Command struct {
	Args   []string // program and arguments; the program is looked up in $PATH
	Env    []string // the complete environment, NAME=value
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Signals are forwarded to the running program (os/signal.Notify fills it).
	Signals <-chan os.Signal
	// KeyboardSignalsReachChild is true when the program shares the foreground process
	// group of our terminal: the terminal already sent it SIGINT/SIGQUIT (Ctrl-C, Ctrl-\),
	// so forwarding them would deliver them twice (and make tools like terraform abort
	// instead of stopping gracefully). See ForegroundOfTerminal.
	KeyboardSignalsReachChild bool
}

// Exec runs c, forwarding signals, and returns the program's exit status: its own, or
// 128+N when signal N killed it (as shells report it). err is set only when the program
// could not be started; the status is then 127 (not found) or 126 (not executable).
// When ctx ends the program is killed.
func Exec(ctx context.Context, c Command) (int, error) {
	if len(c.Args) == 0 {
		return ExitNotFound, errors.New("no command to run")
	}
	path, err := exec.LookPath(c.Args[0])
	if err != nil {
		return startStatus(err), fmt.Errorf("run %s: %w", c.Args[0], err)
	}
	cmd := exec.CommandContext(ctx, path, c.Args[1:]...)
	cmd.Args[0] = c.Args[0]
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Env, c.Stdin, c.Stdout, c.Stderr
	if err := cmd.Start(); err != nil {
		return startStatus(err), fmt.Errorf("run %s: %w", c.Args[0], err)
	}
	stop := make(chan struct{})
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for {
			select {
			case s := <-c.Signals:
				if c.KeyboardSignalsReachChild && isKeyboardSignal(s) {
					continue
				}
				_ = cmd.Process.Signal(s) // fails only once the program has exited
			case <-stop:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(stop)
	<-forwarded
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exitStatus(exit.ProcessState), nil
	}
	if err != nil {
		return 1, fmt.Errorf("run %s: %w", c.Args[0], err)
	}
	return 0, nil
}

func startStatus(err error) int {
	if errors.Is(err, fs.ErrPermission) {
		return ExitNotExecutable
	}
	return ExitNotFound
}

// ChildEnv returns base with every variable named in unset removed and set applied
// (replacing earlier values), in base's order followed by the new names.
func ChildEnv(base []string, unset []string, set []Var) []string {
	drop := func(name string) bool {
		return slices.Contains(unset, name) || slices.ContainsFunc(set, func(v Var) bool { return v.Name == name })
	}
	var env []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if !drop(name) {
			env = append(env, kv)
		}
	}
	for _, v := range set {
		env = append(env, v.Name+"="+v.Value)
	}
	return env
}

// CredentialSourceVars are the variables through which a parent environment could hand
// the program other credentials than ours. With --refresh they are removed, since the
// SDKs try static keys, profiles and web identity before the container endpoint.
func CredentialSourceVars() []string {
	return []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	}
}
