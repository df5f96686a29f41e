//go:build !unix

package client

import "os"

// ForwardedSignals are the signals `keyless exec` passes on to its program.
func ForwardedSignals() []os.Signal { return []os.Signal{os.Interrupt} }

func isKeyboardSignal(s os.Signal) bool { return s == os.Interrupt }

func exitStatus(ps *os.ProcessState) int { return ps.ExitCode() }
