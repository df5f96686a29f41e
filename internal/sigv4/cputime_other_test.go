//go:build !linux

package sigv4

import "time"

// threadCPU is not available here: the benchmark reports wall-clock figures only.
func threadCPU() time.Duration { return 0 }
