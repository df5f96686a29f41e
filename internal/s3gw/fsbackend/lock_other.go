//go:build !unix

package fsbackend

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockRoot opens root/LOCK; without flock, a second process is not detected.
func lockRoot(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fsbackend: lock: %w", err)
	}
	return f, nil
}
