//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the file in the data directory that a [Server] holds an exclusive flock on.
const lockFileName = "docstore.lock"

// dirLock is an exclusive lock on a data directory. Two embedded servers on one directory would be two
// writers of the same SQLite files, which breaks the one-writer rule the package relies on.
type dirLock struct {
	f *os.File
}

// lockDir takes the lock on dir without waiting; it fails if another Server, in this process or another,
// holds it. The kernel releases the lock if the process dies.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another embedded store", dir)
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	return &dirLock{f: f}, nil
}

// release unlocks the directory by closing the lock file.
func (l *dirLock) release() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("unlock data directory: %w", err)
	}
	return nil
}
