package fsbackend

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing bytes off..off+n of f to disk without
// waiting, so the fsync at the end of a large write has little left to do.
func startWriteback(f *os.File, off, n int64) {
	_ = syscall.SyncFileRange(int(f.Fd()), off, n, 0x2) // SYNC_FILE_RANGE_WRITE; advisory
}
