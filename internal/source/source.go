// Package source defines how events enter trailwatch run: a Source hands
// out batches of decoded CloudTrail events, and each batch is acknowledged
// exactly once, after its findings and notifications are committed. Source
// implementations live in sub-packages (source/sqs, source/s3,
// source/webhook, source/file). It imports event.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/trailwatch/trailwatch/internal/event"
)

// ErrExhausted is returned by Read when a finite source (a backfill, a
// folder scanned once) has nothing more to give.
var ErrExhausted = errors.New("source exhausted")

// Batch is a unit of input that is acknowledged as a whole: one SQS
// message, one S3 object, one webhook request, one file.
type Batch struct {
	// Origin names the input in errors and findings (queue and message
	// id, s3://bucket/key, …).
	Origin string
	// Object names the object a chunk belongs to (a file, an S3 object)
	// when a large object is handed out in chunks, and Offset is the
	// index of the chunk's first record in it; Object is empty when the
	// batch is a whole input.
	Object string
	Offset int
	// Events are the decoded CloudTrail records some rule may match;
	// records no rule watches are counted in Records but not decoded.
	Events []*event.Event
	// Records counts every record the batch held.
	Records int
	// Errors are problems with single records of the batch; the rest of
	// the batch is still processed and the batch acknowledged.
	Errors []error
	// Trails lists the account/region trails the batch carried records
	// of, for the silence heartbeat, when the source knows them without
	// decoding (from a CloudTrail log file's key).
	Trails []Trail
	// Ack is called exactly once: with a Result whose Err is nil after
	// everything the batch owes is committed (the source then deletes the
	// message, answers 2xx, moves its checkpoint), or with the error that
	// stopped processing (the source makes the input available again).
	Ack func(ctx context.Context, r Result) error
}

// Result is what the pipeline did with a batch, as Ack reports it.
type Result struct {
	// Err is what stopped the commit; nil when everything the batch owes
	// is committed.
	Err error
	// Findings counts the findings the batch's events raised; New those
	// this commit stored. The others were already stored (the events came
	// before, or twice in the batch).
	Findings, New int
	// Quarantined is set when the batch could not be committed after
	// several tries while the store answered: it was set aside (recorded
	// in the store's quarantine, raised as a finding) and the source
	// should move on, as after a commit.
	Quarantined bool
}

// Source is an input of trailwatch run.
//
// Building a source (its package's New) does no I/O: config check builds
// every source and closes it. Start connects or listens (checks the bucket
// or queue, binds the port, reads the start checkpoint); an error marked
// Permanent (a missing bucket, access denied, a port in use) stops
// start-up, any other is retried by the caller with a backoff. ctx bounds
// the source's life. Start is called once, before Read.
//
// Read is called from one goroutine per source and blocks until a batch
// is ready, ctx ends (it returns ctx.Err()), a finite source is done
// (ErrExhausted), or the source is closed (ErrClosed). A Source may hand
// out further batches before earlier ones are acknowledged; Ack may be
// called from any goroutine. Close stops receiving and releases what is
// held; batches not yet acknowledged come back later (redelivery), never
// lost. Close is safe on a source never started.
type Source interface {
	Name() string
	Start(ctx context.Context) error
	Read(ctx context.Context) (*Batch, error)
	Close(ctx context.Context) error
}

// Permanent marks a Start error that retrying will not fix: a missing
// bucket or queue, a denied permission, a port in use.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Listener is a Source that others push to and that answers them only
// once their events are committed (a webhook). At shutdown a Listener is
// closed first, while the pipeline still runs, so requests in flight are
// answered; other sources are closed after everything they handed out was
// acknowledged.
type Listener interface {
	Source
	Addr() string
}

// Counter is implemented by sources that count their own traffic
// (messages received, deleted, poison; requests accepted, rejected); the
// counts are exported as metrics.
type Counter interface {
	Counters() map[string]int64
}

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("source closed")

// Trail is one account's CloudTrail log stream in one region.
type Trail struct{ Account, Region string }

// TrailOfKey reads the account and region from a CloudTrail log file key:
// …/AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/….
func TrailOfKey(key string) (Trail, bool) {
	parts := strings.Split(key, "/")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "CloudTrail" && i > 0 {
			acct, region := parts[i-1], parts[i+1]
			if len(acct) == 12 && strings.Trim(acct, "0123456789") == "" && region != "" {
				return Trail{Account: acct, Region: region}, true
			}
		}
	}
	return Trail{}, false
}

// Wants reports whether any rule watches an event, from its raw
// (JSON-escaped) eventSource and eventName: rule.Engine.Wants.
type Wants func(source, name []byte) bool

// Decode splits r in any CloudTrail delivery format and decodes the records
// wants accepts. Problems with single records are returned in errs and do
// not stop the rest; a structural error that makes the rest unreadable ends
// the input and is the last error in errs. origin names the input in errors
// and on the events.
func Decode(r io.Reader, origin string, wants Wants, maxRecord int) (events []*event.Event, records int, errs []error) {
	d := DecodeAll(r, origin, wants, maxRecord)
	return d.Events, d.Records, d.Errs
}

// Decoded is what DecodeAll found in an input.
type Decoded struct {
	// Events are the decoded records some rule may match.
	Events []*event.Event
	// Records counts every record; CloudTrail those that are CloudTrail
	// records and could be decoded (or were passed over because no rule
	// watches them).
	Records, CloudTrail int
	// Errs are problems with single records (malformed, over a limit);
	// a structural error that ended the input is the last.
	Errs []error
	// Foreign are the records that are not CloudTrail records: JSON
	// objects without CloudTrail's fields, and EventBridge events of
	// another kind. Sources reading trails pass over them; the webhook
	// refuses a body of nothing else.
	Foreign []error
}

// DecodeAll is Decode that also reports the records that are not
// CloudTrail records.
func DecodeAll(r io.Reader, origin string, wants Wants, maxRecord int) (d Decoded) {
	sp := event.NewSplitter(r, maxRecord)
	for {
		it, err := sp.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			d.Errs = append(d.Errs, fmt.Errorf("%s: %w", origin, err))
			if !sp.Resync() {
				return
			}
			continue
		}
		d.Records++
		if len(it.Source) == 0 {
			what := "a JSON object that is not a CloudTrail record"
			if it.Envelope {
				what = "an EventBridge event whose detail is not a CloudTrail record"
			}
			d.Foreign = append(d.Foreign, fmt.Errorf("%s: record %d: %s", origin, it.Index, what))
			continue
		}
		if wants != nil && !wants(it.Source, it.Name) {
			d.CloudTrail++
			continue
		}
		ev, err := event.Decode(&it)
		if err != nil {
			d.Errs = append(d.Errs, fmt.Errorf("%s: %w", origin, err))
			continue
		}
		d.CloudTrail++
		ev.Origin = origin
		d.Events = append(d.Events, ev)
	}
}

// Problems summarises errors for a log or an answer: the first max texts,
// then how many more there were.
func Problems(errs []error, max int) (first []string, more int) {
	for i, e := range errs {
		if i == max {
			return first, len(errs) - max
		}
		first = append(first, e.Error())
	}
	return first, 0
}

// readErr remembers the first error of the underlying reader, so that a
// broken download is told apart from broken content.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
