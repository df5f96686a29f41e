//go:build unix

package client

import (
	"os"
	"syscall"
)

// ForwardedSignals are the signals `keyless exec` passes on to its program.
func ForwardedSignals() []os.Signal {
	return []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
}

func isKeyboardSignal(s os.Signal) bool { return s == syscall.SIGINT || s == syscall.SIGQUIT }

// exitStatus is the program's exit code, or 128+N when signal N ended it.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
