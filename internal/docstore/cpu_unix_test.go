//go:build unix

package docstore

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) this process has used so far, and whether it could be
// read. On the embedded store it counts both the client and the server of a command.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
