//go:build unix

package fsbackend

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockRoot takes an exclusive, non-blocking flock on root/LOCK; the kernel drops it when
// the process dies, so a crashed server never leaves a stale lock.
func lockRoot(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fsbackend: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("fsbackend: %s is in use by another process: %w", root, err)
	}
	return f, nil
}
