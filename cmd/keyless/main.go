// Command keyless is the client and the offline tools: it assumes roles for CI jobs
// (assume, exec), mints and inspects tokens, and checks policies and SigV4 signatures
// without a server. It links no database driver (see internal/layering_test.go).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/keyless-dev/keyless/internal/cli"
)

// cliTree is the whole command tree. Each subcommand lives in its own file.
type cliTree struct {
	Assume assumeCmd `cmd:"" help:"Assume a role with the CI job's OIDC token; print the credentials (env, json) or write an AWS profile."`
	Exec   execCmd   `cmd:"" help:"Assume a role and run a command with the credentials in its environment: keyless exec [flags] -- CMD [ARG...]."`
	Policy policyCmd `cmd:"" help:"Validate, lint, evaluate and explain IAM policies offline."`
	Sigv4  sigv4Cmd  `cmd:"" name:"sigv4" help:"Debug AWS Signature Version 4 requests."`
	Token  tokenCmd  `cmd:"" help:"Mint, decode and verify CI job tokens."`
}

// stdio is bound into every command's Run method, so commands never touch os.Std*.
type stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// exitStatus is returned by a command that has already printed what it had to say and
// only needs the process to end with this status (for example 1 for "lint found errors").
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError marks bad input (unreadable file, malformed JSON, bad flag value): exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// badInput wraps err as bad input, so that the process exits with status 2.
func badInput(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:], stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}

// run parses args, runs the chosen command and returns the process exit status:
// 0 success, 1 a negative answer (mismatch, lint errors, command failure), 2 bad input.
func run(args []string, io stdio) int {
	code, ended, err := cli.Run(&cliTree{}, args, "keyless",
		"keyless client: CI job credentials without stored keys, and offline policy, token and SigV4 tools.",
		io.Out, io.Err, io)
	if ended {
		return code
	}
	return exitCode(io.Err, err)
}

// exitCode prints err (if it has something to say) and maps it to an exit status.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	fmt.Fprintln(stderr, "keyless:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
