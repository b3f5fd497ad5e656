package sqlite

import (
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointEvery is the least time between two background checkpoints.
// Short is better on a busy store: each checkpoint ends with an fsync of
// the database file, and on ext4 a commit's WAL write waits behind a long
// one (checkpoints every second held commits for 60 to 130 ms, every
// 50 ms for under 35; runbench -rate 2000, issue 14). A page that many
// commits wrote in the meantime is still copied once per checkpoint.
const checkpointEvery = 50 * time.Millisecond

// checkpointer copies committed WAL frames into the database file on its
// own connection, so the writer's commits do not pay for it (checkpoints in
// the writer's commit were about a fifth of the writer's time at a few
// thousand findings a second, issue 14). A PASSIVE checkpoint never blocks
// the writer or the readers. The WAL restarts from its start only when a
// write transaction begins with every frame already copied: when the
// writer pauses for longer than a checkpoint. Under steady load it begins
// its next group while the last one's checkpoint runs, so the WAL grows
// until the writer's own automatic checkpoint (writerPragmas, 16,000
// frames), which then runs in a commit (about 0.7 s apart at 2,000 events
// a second, holding that commit 40 to 80 ms). Having the writer wait
// before a group for a checkpoint of everything instead (tried; issue 14,
// bench/README.md) restarted the WAL every 4,096 frames but the wait was
// as long, and it grew as long with the database: what costs is the
// checkpoint's fsync of pages scattered over a growing file, wherever the
// writer waits for it.
type checkpointer struct {
	db     *sql.DB
	kick   chan struct{}
	quit   chan struct{}
	done   chan struct{}
	every  time.Duration
	runs   atomic.Int64 // checkpoints run, for tests
	failed atomic.Int64 // checkpoints that returned an error
	frames atomic.Int64 // the WAL's frames at the last checkpoint (since its last restart)
	once   sync.Once
}

func newCheckpointer(db *sql.DB, every time.Duration) *checkpointer {
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}), every: every}
	c.committed() // what Open wrote (a new schema, migrations)
	go c.loop()
	return c
}

// committed tells the checkpointer a group committed; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// loop checkpoints after commits, at most once per c.every.
func (c *checkpointer) loop() {
	defer close(c.done)
	pause := time.NewTimer(c.every)
	pause.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-c.kick:
		}
		var busy, frames, copied int
		if err := c.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			c.failed.Add(1)
		} else if busy == 0 {
			c.frames.Store(int64(frames))
		}
		c.runs.Add(1)
		pause.Reset(c.every)
		select {
		case <-c.quit:
			pause.Stop()
			return
		case <-pause.C:
		}
	}
}

// close stops the checkpointer and closes its connection; closing again
// does nothing.
func (c *checkpointer) close() {
	c.once.Do(func() {
		close(c.quit)
		<-c.done
		c.db.Close()
	})
}
