//go:build !unix

package sqlite

// runLock is not implemented outside Unix: two trailwatch run processes
// on one file are not stopped there (see docs/configuration.md).
type runLock struct{}

func acquireRunLock(string) (*runLock, error) { return nil, nil }

func (l *runLock) release() {}
