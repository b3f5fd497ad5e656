package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
)

// Group limits of the writer: a group transaction keeps taking queued
// requests until it holds maxGroupRequests of them or has been open for
// maxGroupTime, so one busy producer can neither starve the others nor
// hold their results back for long.
const (
	maxGroupRequests = 512
	maxGroupTime     = 20 * time.Millisecond
	// queueLen bounds the requests waiting for the writer; more wait to
	// be queued.
	queueLen = 1024
)

// Each request's savepoint.
const (
	qSavepoint  = `SAVEPOINT request`
	qRelease    = `RELEASE request`
	qRollbackTo = `ROLLBACK TO request`
)

// writer is the one goroutine that writes: it owns the write connection
// and serves every write (ingest commits, the dispatcher's claims and
// settles, checkpoints, operator changes) from a queue, in group
// transactions. Each request runs inside its own savepoint, so a request
// that fails is rolled back alone and the others of its group still
// commit; a request is answered only after its group committed. While one
// group commits, the next accumulates in the queue.
//
// Statements are prepared once on the write connection and reused (the
// connection pool holds one connection, so every prepared statement lives
// on it); a group binds them to its transaction once.
type writer struct {
	db     *sql.DB
	reqs   chan *writeReq
	mu     sync.RWMutex // held to send on reqs; closed is set under it
	closed bool
	quit   chan struct{}
	done   chan struct{}
	stmts  map[string]*sql.Stmt // owned by the writer goroutine
	groups atomic.Int64         // group transactions run, for tests
	// maxTime is how long a group keeps taking queued requests
	// (maxGroupTime; tests that check grouping lengthen it).
	maxTime time.Duration
	// committed, when set, is told of every group that committed (the
	// background checkpointer); it must not block.
	committed func()
}

type writeReq struct {
	ctx   context.Context
	fn    func(*wtx) error
	reply chan error
}

// newWriter prepares queries on the write connection (the pool's one
// connection, free at this point) and starts the writer.
func newWriter(db *sql.DB, queries []string, committed func()) (*writer, error) {
	w := &writer{db: db, reqs: make(chan *writeReq, queueLen), quit: make(chan struct{}), done: make(chan struct{}), stmts: map[string]*sql.Stmt{}, maxTime: maxGroupTime,
		committed: committed}
	for _, q := range queries {
		st, err := db.Prepare(q)
		if err != nil {
			for _, st := range w.stmts {
				st.Close()
			}
			return nil, fmt.Errorf("prepare %.40q: %w", q, err)
		}
		w.stmts[q] = st
	}
	go w.loop()
	return w, nil
}

// do runs fn in the writer's next group transaction and returns once that
// group committed (or fn's own error, after its changes were rolled back).
// A context already done when the writer reaches the request stops it
// before it runs; once it runs, it is not interrupted (an interruption
// would roll back the whole group).
func (w *writer) do(ctx context.Context, fn func(*wtx) error) error {
	if err := ctx.Err(); err != nil {
		return &groupError{err}
	}
	r := &writeReq{ctx: ctx, fn: fn, reply: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return &groupError{store.ErrClosed}
	}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		w.mu.RUnlock()
		return &groupError{ctx.Err()}
	}
	w.mu.RUnlock()
	return <-r.reply
}

// groupError is a failure of the group (it could not begin or commit, the
// store is closed, the request's context ended), not of the request's own
// work; callers say what they were doing.
type groupError struct{ err error }

func (e *groupError) Error() string { return e.err.Error() }
func (e *groupError) Unwrap() error { return e.err }

// wrap prefixes a group failure with what the caller was doing; the
// request's own errors already say so.
func wrap(what string, err error) error {
	var ge *groupError
	if errors.As(err, &ge) {
		return fmt.Errorf("%s: %w", what, ge.err)
	}
	return err
}

// close stops the writer after the group it is running, and closes its
// prepared statements.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.quit)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *writer) loop() {
	defer close(w.done)
	defer func() {
		for _, st := range w.stmts {
			st.Close()
		}
	}()
	for {
		select {
		case <-w.quit:
			// Nothing is queued after quit: what is queued is answered.
			w.failQueued(&groupError{store.ErrClosed})
			return
		case r := <-w.reqs:
			w.group(r)
		}
	}
}

// group runs first and whatever else is queued (up to the group limits)
// in one transaction.
func (w *writer) group(first *writeReq) {
	bg := context.Background()
	tx, err := w.db.BeginTx(bg, nil)
	if err != nil {
		err = &groupError{mapErr(err)}
		first.reply <- err
		w.failQueued(err)
		return
	}
	w.groups.Add(1)
	t := &wtx{w: w, tx: tx}
	var ok []*writeReq
	start := time.Now()
	r := first
	for n := 0; ; n++ {
		if err := w.run(t, r); err != nil {
			if t.broken {
				// The transaction is unusable: the whole group is lost.
				tx.Rollback()
				r.reply <- err
				lost := &groupError{fmt.Errorf("the group transaction was rolled back: %w", err)}
				for _, o := range ok {
					o.reply <- lost
				}
				return
			}
			r.reply <- err
		} else {
			ok = append(ok, r)
		}
		if n+1 >= maxGroupRequests || time.Since(start) >= w.maxTime {
			break
		}
		select {
		case r = <-w.reqs:
			continue
		default:
		}
		break
	}
	err = tx.Commit()
	if err != nil {
		err = &groupError{fmt.Errorf("commit: %w", mapErr(err))}
	} else if w.committed != nil {
		w.committed()
	}
	for _, o := range ok {
		o.reply <- err
	}
	// A requester woken here would otherwise run next on this processor
	// and could, by queueing again at once, keep goroutines that are
	// runnable behind it (a delivery about to settle) waiting.
	runtime.Gosched()
}

// failQueued answers the requests already waiting with err (the
// transaction could not even begin).
func (w *writer) failQueued(err error) {
	for {
		select {
		case r := <-w.reqs:
			r.reply <- err
		default:
			return
		}
	}
}

// run runs one request in a savepoint of the group's transaction.
func (w *writer) run(t *wtx, r *writeReq) (err error) {
	if err := r.ctx.Err(); err != nil {
		return &groupError{err}
	}
	if _, err := t.exec(qSavepoint); err != nil {
		t.broken = true
		return &groupError{mapErr(err)}
	}
	t.ctx = r.ctx
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store write panicked: %v", p)
		}
		if err == nil {
			if _, rerr := t.exec(qRelease); rerr != nil {
				t.broken = true
				err = &groupError{mapErr(rerr)}
			}
			return
		}
		if _, rerr := t.exec(qRollbackTo); rerr != nil {
			t.broken = true
			return
		}
		if _, rerr := t.exec(qRelease); rerr != nil {
			t.broken = true
		}
	}()
	return r.fn(t)
}

// wtx is a group transaction as one request sees it.
type wtx struct {
	w      *writer
	tx     *sql.Tx
	ctx    context.Context // the request's, for what it reads from it
	bound  map[string]*sql.Stmt
	broken bool // the transaction can no longer be used
}

// stmt returns the prepared statement of query bound to the transaction.
// The writer's statements were prepared up front on the write connection
// (newWriter), so binding reuses them; any other query is prepared for
// this transaction only.
func (t *wtx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.bound[query]; ok {
		return st, nil
	}
	bg := context.Background()
	var b *sql.Stmt
	if st, ok := t.w.stmts[query]; ok {
		b = t.tx.StmtContext(bg, st)
	} else {
		var err error
		if b, err = t.tx.PrepareContext(bg, query); err != nil {
			return nil, err
		}
	}
	if t.bound == nil {
		t.bound = map[string]*sql.Stmt{}
	}
	t.bound[query] = b
	return b, nil
}

func (t *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

func (t *wtx) queryRow(query string, args ...any) (*sql.Row, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(context.Background(), args...), nil
}

func (t *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}
