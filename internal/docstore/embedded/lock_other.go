//go:build !unix

package embedded

// dirLock does nothing on systems without flock: there, keeping one Server per data directory is up to
// the operator.
type dirLock struct{}

// lockDir returns a lock that does not lock.
func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

// release does nothing.
func (*dirLock) release() error { return nil }
