//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package client

import (
	"os"

	"golang.org/x/sys/unix"
)

// ForegroundOfTerminal reports whether f is a terminal whose foreground process group
// is ours, so that keyboard signals reach a child in our group without our help.
func ForegroundOfTerminal(f *os.File) bool {
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}
