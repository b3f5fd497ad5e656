package app

import (
	"context"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
)

const (
	// pruneEvery is how often trailwatch run deletes findings past
	// store.retention.
	pruneEvery = time.Hour
	// pruneBatch findings are deleted per transaction, so no lock is held
	// long; pruneBreather lets the writers in between batches.
	pruneBatch    = 500
	pruneBreather = 20 * time.Millisecond
)

// retentionLoop deletes findings older than store.retention (with their
// deliveries and history) at start and then every pruneEvery, until ctx
// ends.
func (s *Service) retentionLoop(ctx context.Context) {
	keep := s.cfg.Store.Retention.D()
	r, ok := s.store.(store.Retention)
	if keep <= 0 || !ok {
		return
	}
	for {
		total := 0
		before := s.o.Now().Add(-keep)
		for ctx.Err() == nil {
			n, err := r.Prune(ctx, before, pruneBatch)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("retention: prune", "err", err)
				}
				break
			}
			total += n
			if n < pruneBatch {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(pruneBreather):
			}
		}
		if total > 0 {
			s.log.Info("retention: deleted old findings", "findings", total, "before", before.UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pruneEvery):
		}
	}
}
