//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package client

import "os"

// ForegroundOfTerminal is false where we cannot tell: every signal is forwarded.
func ForegroundOfTerminal(*os.File) bool { return false }
