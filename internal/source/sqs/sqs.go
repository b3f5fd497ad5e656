// Package sqs is the source that receives CloudTrail events through an
// Amazon SQS queue: EventBridge events, raw records, S3 event notifications
// and CloudTrail's own SNS notifications (whose log files it fetches from
// S3), each possibly wrapped in an SNS envelope. One message is one batch:
// acknowledging it deletes the message, failing it makes the message
// visible again after a delay, and a message that cannot be understood is
// left for the queue's redrive policy to move to a dead-letter queue. It
// imports source, event and secret.
package sqs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/trailwatch/trailwatch/internal/awsconf"
	"github.com/trailwatch/trailwatch/internal/source"
)

// Timeouts of outbound calls.
const (
	callTimeout  = 15 * time.Second // one SQS call, beyond the long poll
	fetchTimeout = 10 * time.Minute // getting and reading one log file
	deleteLinger = 50 * time.Millisecond
)

// S3Getter fetches log files. GetObject returns the object's body, which
// the caller closes; an error wrapping ErrNotFound means the object (or
// its bucket) does not exist, any other error is worth retrying.
type S3Getter interface {
	GetObject(ctx context.Context, bucket, key string) (io.ReadCloser, error)
}

// Options configure a Source beyond its Config.
type Options struct {
	Wants  source.Wants
	Logger *slog.Logger
	// MaxRecord bounds one record; 0 means event.DefaultMaxRecordSize.
	MaxRecord int
	// S3 fetches log files; nil builds an aws-sdk-go-v2 S3 client from
	// the Config (s3_region, s3_endpoint, the credentials).
	S3 S3Getter
	// Limits bound a chunk of a log file; zero means the configuration's
	// (chunk_records, chunk_bytes).
	Limits source.Limits
}

// Source receives from one queue. Received counts messages received
// (redeliveries included), Deleted messages deleted after Ack(nil), Failed
// messages made visible again for a retry (Ack with an error, or a log
// file that could not be fetched), Poison messages that could not be
// understood and were left for the dead-letter queue.
type Source struct {
	name      string
	queueURL  string
	queueName string
	cfg       Config
	vis       time.Duration
	client    *sqs.Client
	s3        S3Getter
	wants     source.Wants
	maxRecord int
	limits    source.Limits
	log       *slog.Logger

	opts    Options
	batches chan *source.Batch
	done    <-chan struct{} // closed when the source stops receiving
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	startMu  sync.Mutex
	started  chan struct{} // closed once Start succeeded
	stopped  chan struct{} // closed by Close
	stopOnce sync.Once

	mu       sync.Mutex
	inflight map[string]*held // by receipt handle

	delCh   chan *held
	delStop chan struct{}

	Received, Deleted, Failed, Poison atomic.Int64
}

// held is a received message not yet deleted, failed or released.
type held struct {
	id, receipt string
	count       int
	extended    atomic.Int64 // unix nanoseconds of the last receive or extension
	acked       atomic.Bool

	mu   sync.Mutex // held during an extension of the message
	done bool       // no more extension: acknowledged, released or lost
}

// finish stops extending h; it reports false when h was already finished.
func (h *held) finish() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.done
	h.done = true
	return !was
}

// New builds the source, without I/O: Start builds the clients, checks
// the queue and starts receiving. c is checked with os.Getenv if Check was
// not called.
func New(name string, c Config, o Options) (*Source, error) {
	if !c.checked {
		if err := c.Check(os.Getenv); err != nil {
			return nil, fmt.Errorf("sqs source %s: %w", name, err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Limits == (source.Limits{}) {
		o.Limits = source.Limits{Records: c.ChunkRecords, Bytes: c.ChunkBytes}
	}
	o.Limits = o.Limits.OrDefault()
	return &Source{
		name: name, queueURL: c.QueueURL, queueName: c.queueName, cfg: c, opts: o,
		vis: time.Duration(c.VisibilityTimeout) * time.Second,
		s3:  o.S3, wants: o.Wants, maxRecord: o.MaxRecord, limits: o.Limits,
		log:      o.Logger.With("queue", c.queueName),
		batches:  make(chan *source.Batch),
		inflight: map[string]*held{},
		delCh:    make(chan *held),
		delStop:  make(chan struct{}),
		stopped:  make(chan struct{}),
		started:  make(chan struct{}),
	}, nil
}

// Start builds the SQS (and, unless Options.S3 is given, S3) client, checks
// that the queue can be reached (GetQueueAttributes; a queue without a
// redrive policy is logged as a warning), and starts receiving. A queue
// that does not exist or may not be read is a permanent error. ctx bounds
// the source's life: when it ends the source stops receiving as Close
// does, except that batches handed out and not acknowledged are left to
// become visible again when their timeout runs out.
func (s *Source) Start(ctx context.Context) error {
	select {
	case <-s.stopped:
		return source.ErrClosed
	default:
	}
	c := s.cfg
	awsCfg, err := awsconf.Load(ctx, awsconf.Config{Region: c.Region, Profile: c.Profile, RoleARN: c.RoleARN,
		AccessKeyID: c.accessKeyID.Reveal(), SecretAccessKey: c.secretAccessKey.Reveal(), Logger: s.opts.Logger})
	if err != nil {
		return source.Permanent(fmt.Errorf("sqs source %s: %w", s.name, err))
	}
	client := sqs.NewFromConfig(awsCfg, func(so *sqs.Options) {
		if c.Endpoint != "" {
			so.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	if s.s3 == nil {
		s3Cfg := awsCfg.Copy()
		s3Cfg.Region = c.S3Region
		s.s3 = &s3Getter{c: s3.NewFromConfig(s3Cfg, func(so *s3.Options) {
			if c.S3Endpoint != "" {
				so.BaseEndpoint = aws.String(c.S3Endpoint)
				so.UsePathStyle = true
			}
			so.DisableLogOutputChecksumValidationSkipped = true
		})}
	}
	s.client = client

	actx, cancel := context.WithTimeout(ctx, callTimeout)
	attrs, err := client.GetQueueAttributes(actx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(c.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	cancel()
	if err != nil {
		err = fmt.Errorf("sqs source %s: queue %s: %w", s.name, c.QueueURL, err)
		if callerError(err) {
			return source.Permanent(err)
		}
		return err
	}
	if attrs.Attributes[string(types.QueueAttributeNameRedrivePolicy)] == "" {
		s.log.Warn("the queue has no redrive policy: a message that cannot be understood is received again until it expires; give the queue a dead-letter queue")
	}

	life, stop := context.WithCancel(ctx)
	s.startMu.Lock()
	select {
	case <-s.stopped: // closed before it started
		s.startMu.Unlock()
		stop()
		return source.ErrClosed
	default:
	}
	s.done, s.cancel = life.Done(), stop
	s.wg.Add(c.Workers + 1)
	for range c.Workers {
		go s.receiveLoop(life)
	}
	go s.deleter(life)
	if *c.ExtendVisibility {
		s.wg.Add(1)
		go s.extender(life)
	}
	s.startMu.Unlock()
	close(s.started)
	return nil
}

// callerError reports an error retrying will not fix: a 4xx answer other
// than throttling and timeouts (no such queue, access denied).
func callerError(err error) bool {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	c := re.HTTPStatusCode()
	return c >= 400 && c < 500 && c != http.StatusTooManyRequests && c != http.StatusRequestTimeout
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Read returns the next message's batch. It returns ctx.Err() when ctx
// ends and source.ErrClosed once the source stopped.
func (s *Source) Read(ctx context.Context) (*source.Batch, error) {
	select {
	case <-s.started:
	case <-s.stopped:
		return nil, source.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case b := <-s.batches:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, source.ErrClosed
	}
}

// Close stops receiving (messages received and not handed out are made
// visible again), stops extending the visibility of batches handed out,
// makes those not yet acknowledged visible again, and sends the deletes
// still pending. Batches acknowledged after Close are still deleted or
// made visible again, one call each. Close waits for the receive loops
// until ctx ends.
func (s *Source) Close(ctx context.Context) error {
	s.startMu.Lock()
	s.stopOnce.Do(func() { close(s.stopped) })
	cancel := s.cancel
	s.startMu.Unlock()
	if cancel == nil {
		return nil // never started
	}
	cancel()
	stopped := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		return fmt.Errorf("close sqs source %s: %w", s.name, ctx.Err())
	}
	s.mu.Lock()
	var hs []*held
	for _, h := range s.inflight {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	s.release(ctx, hs)
	return nil
}

func (s *Source) track(m types.Message) *held {
	h := &held{id: aws.ToString(m.MessageId), receipt: aws.ToString(m.ReceiptHandle)}
	h.count, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	h.extended.Store(time.Now().UnixNano())
	s.mu.Lock()
	s.inflight[h.receipt] = h
	s.mu.Unlock()
	return h
}

func (s *Source) untrack(h *held) {
	s.mu.Lock()
	delete(s.inflight, h.receipt)
	s.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// receiveLoop long-polls the queue and hands each message out as a batch.
func (s *Source) receiveLoop(life context.Context) {
	defer s.wg.Done()
	var lastErr string
	var delay time.Duration
	for life.Err() == nil {
		ctx, cancel := context.WithTimeout(life, time.Duration(*s.cfg.WaitSeconds)*time.Second+callTimeout)
		out, err := s.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(s.queueURL),
			MaxNumberOfMessages:         int32(s.cfg.MaxMessages),
			WaitTimeSeconds:             int32(*s.cfg.WaitSeconds),
			VisibilityTimeout:           int32(s.cfg.VisibilityTimeout),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		cancel()
		if err != nil {
			if life.Err() != nil {
				return
			}
			// Log when the problem changes, not on every attempt.
			if e := err.Error(); e != lastErr {
				s.log.Error("receive failed; retrying", "err", err)
				lastErr = e
			}
			delay = min(max(2*delay, 100*time.Millisecond), 30*time.Second)
			if !sleep(life, delay) {
				return
			}
			continue
		}
		if lastErr != "" {
			s.log.Info("receiving again")
			lastErr = ""
		}
		delay = 0
		if len(out.Messages) == 0 && *s.cfg.WaitSeconds == 0 && !sleep(life, 500*time.Millisecond) {
			return
		}
		hs := make([]*held, len(out.Messages))
		for i, m := range out.Messages {
			s.Received.Add(1)
			hs[i] = s.track(m)
		}
		for i, m := range out.Messages {
			if life.Err() != nil {
				s.release(context.WithoutCancel(life), hs[i:])
				return
			}
			emit := func(b *source.Batch) bool {
				select {
				case s.batches <- b:
					return true
				case <-life.Done():
					return false
				}
			}
			if !s.handle(life, m, hs[i], emit) {
				s.release(context.WithoutCancel(life), hs[i:])
				return
			}
		}
	}
}

// handle turns a message into batches and hands them to emit: one for
// the records it carries, and the chunks of each log file it names (the
// next chunk once the previous one is committed, so a large file is
// committed in bounded pieces). The message is deleted once every batch
// is committed, and made visible again after a delay when one fails. A
// poison message gives no batch; one whose log files could not be fetched
// is made visible again later. It returns false when life ended while
// handing out (the caller releases the messages).
func (s *Source) handle(life context.Context, m types.Message, h *held, emit func(*source.Batch) bool) bool {
	origin := "sqs://" + s.queueName + "/" + h.id
	if w := *s.cfg.MaxReceiveCountWarn; w > 0 && h.count > w {
		s.log.Warn("message received again and again; the queue's redrive policy moves it to the dead-letter queue", "message_id", h.id, "receive_count", h.count)
	}
	body := aws.ToString(m.Body)
	p, err := parseBody([]byte(body), 0)
	if err != nil {
		s.Poison.Add(1)
		h.finish()
		s.untrack(h)
		s.log.Error("message not understood; left for the dead-letter queue", "message_id", h.id, "receive_count", h.count, "bytes", len(body), "err", err)
		return true
	}
	if p.note != "" {
		if p.warn {
			s.log.Warn(p.note, "message_id", h.id)
		} else {
			s.log.Debug("message without CloudTrail records", "message_id", h.id, "why", p.note)
		}
	}
	msg := &message{ack: s.acker(h, origin)}
	// The message's records and its log files of one chunk each make one
	// batch, handed out last; larger log files' chunks go before it.
	b := &source.Batch{Origin: origin, Errors: p.errs}
	if p.inline != nil {
		evs, n, errs := source.Decode(bytes.NewReader(p.inline), origin, s.wants, s.maxRecord)
		b.Events, b.Records, b.Errors = evs, n, append(b.Errors, errs...)
	}
	for _, o := range p.objects {
		ok, err := s.feedObject(life, o, msg, b, emit)
		if err != nil {
			if life.Err() != nil {
				return false
			}
			s.log.Warn("log file not fetched; the message is retried later", "message_id", h.id, "receive_count", h.count, "err", err)
			msg.fail(life, err)
			return true
		}
		if !ok {
			// A chunk failed (the message is made visible again), or
			// the source stopped.
			return life.Err() == nil
		}
	}
	if !emit(msg.track(b)) {
		return false
	}
	msg.seal(life)
	return true
}

// feedObject reads one log file: when it is one chunk, into small (the
// message's batch); else chunk by chunk, each its own batch, handed to emit.
// A file that could not be fetched or read (worth retrying) is an error;
// ok is false when a chunk failed or the source stopped.
func (s *Source) feedObject(life context.Context, o object, msg *message, small *source.Batch, emit func(*source.Batch) bool) (ok bool, err error) {
	ctx, cancel := context.WithTimeout(life, fetchTimeout)
	defer cancel()
	origin := o.String()
	rc, err := s.s3.GetObject(ctx, o.bucket, o.key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			small.Errors = append(small.Errors, fmt.Errorf("get %s: %w", origin, err))
			return true, nil
		}
		return false, &transientError{fmt.Errorf("get %s: %w", origin, err)}
	}
	var trails []source.Trail
	if tr, ok := source.TrailOfKey(o.key); ok {
		trails = []source.Trail{tr}
	}
	feed := source.NewFeed(source.NewChunker(rc, origin, s.wants, s.maxRecord, s.limits, 0), source.FeedOptions{Closer: rc, Origin: origin, Trails: trails})
	for first := true; ; first = false {
		b, err := feed.Next(ctx, s.done)
		switch {
		case err == io.EOF:
			return true, nil
		case errors.Is(err, source.ErrAbandoned), errors.Is(err, source.ErrClosed), life.Err() != nil:
			return false, nil
		case err != nil:
			return false, &transientError{err}
		}
		if first && !feed.Waiting() {
			// The whole file in one chunk: it joins the message's batch
			// (its own Ack owes nothing).
			small.Events = append(small.Events, b.Events...)
			small.Records += b.Records
			small.Errors = append(small.Errors, b.Errors...)
			small.Trails = append(small.Trails, b.Trails...)
			continue
		}
		if !emit(msg.track(b)) {
			return false, nil
		}
	}
}

// message acknowledges one SQS message once every batch it gave was
// committed, or at the first that failed.
type message struct {
	ack func(context.Context, source.Result) error

	mu       sync.Mutex
	out      int  // batches handed out, not yet acknowledged
	sealed   bool // every batch handed out
	finished bool // ack called
}

// track counts b as the message's and chains its Ack to the message's.
func (m *message) track(b *source.Batch) *source.Batch {
	m.mu.Lock()
	m.out++
	m.mu.Unlock()
	inner := b.Ack
	var once atomic.Bool
	b.Ack = func(ctx context.Context, r source.Result) error {
		var err error
		if inner != nil {
			err = inner(ctx, r) // a chunk's: reports a second Ack itself
		} else if !once.CompareAndSwap(false, true) {
			return fmt.Errorf("%s: acknowledged twice", b.Origin)
		}
		if err != nil && r.Err == nil {
			r.Err = err
		}
		m.mu.Lock()
		m.out--
		last := r.Err != nil || (m.sealed && m.out == 0)
		call := last && !m.finished
		m.finished = m.finished || last
		m.mu.Unlock()
		if call {
			return errors.Join(err, m.ack(ctx, source.Result{Err: r.Err}))
		}
		return err
	}
	return b
}

// seal says every batch was handed out: the message is acknowledged now
// when all were acknowledged already.
func (m *message) seal(ctx context.Context) {
	m.mu.Lock()
	m.sealed = true
	call := m.out == 0 && !m.finished
	m.finished = m.finished || call
	m.mu.Unlock()
	if call {
		m.ack(ctx, source.Result{})
	}
}

// fail acknowledges the message with err (it comes again later) unless it
// was already.
func (m *message) fail(ctx context.Context, err error) {
	m.mu.Lock()
	call := !m.finished
	m.finished = true
	m.mu.Unlock()
	if call {
		m.ack(ctx, source.Result{Err: err})
	}
}

// retryDelay is how long a failed message stays invisible: RetryDelay per
// receive so far, capped.
func (s *Source) retryDelay(count int) int32 {
	return int32(min(s.cfg.RetryDelay*max(count, 1), s.cfg.MaxRetryDelay))
}

func (s *Source) retryLater(ctx context.Context, h *held) error {
	_, err := s.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(s.queueURL), ReceiptHandle: aws.String(h.receipt), VisibilityTimeout: s.retryDelay(h.count),
	})
	return err
}

func (s *Source) acker(h *held, origin string) func(context.Context, source.Result) error {
	return func(ctx context.Context, r source.Result) error {
		err := r.Err
		if !h.acked.CompareAndSwap(false, true) {
			return fmt.Errorf("%s: acknowledged twice", origin)
		}
		if err != nil {
			s.Failed.Add(1)
			if !h.finish() {
				return nil // released by Close: visible again already
			}
			s.untrack(h)
			ctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			if err := s.retryLater(ctx, h); err != nil {
				return fmt.Errorf("%s: make the message visible again: %w", origin, err)
			}
			return nil
		}
		h.finish()
		s.untrack(h)
		select {
		case s.delCh <- h:
			return nil
		case <-s.delStop:
			return s.deleteNow(ctx, h, origin)
		case <-ctx.Done():
			return fmt.Errorf("%s: delete: %w", origin, ctx.Err())
		}
	}
}

func (s *Source) deleteNow(ctx context.Context, h *held, origin string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := s.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queueURL), ReceiptHandle: aws.String(h.receipt)})
	if err != nil {
		return fmt.Errorf("%s: delete: %w", origin, err)
	}
	s.Deleted.Add(1)
	return nil
}

// deleter gathers acknowledged messages into DeleteMessageBatch calls of
// up to ten, waiting at most deleteLinger for a batch to fill. When the
// source stops it sends what is pending; later acknowledgements delete
// one by one.
func (s *Source) deleter(life context.Context) {
	defer s.wg.Done()
	bg := context.WithoutCancel(life) // deletes are not cut short by stopping
	var pending []*held
	var timer <-chan time.Time
	for {
		select {
		case h := <-s.delCh:
			pending = append(pending, h)
			if len(pending) >= 10 {
				s.deleteBatch(bg, pending)
				pending, timer = nil, nil
			} else if timer == nil {
				timer = time.After(deleteLinger)
			}
		case <-timer:
			s.deleteBatch(bg, pending)
			pending, timer = nil, nil
		case <-life.Done():
			close(s.delStop)
			for {
				select {
				case h := <-s.delCh:
					pending = append(pending, h)
					continue
				default:
				}
				break
			}
			for len(pending) > 0 {
				n := min(len(pending), 10)
				s.deleteBatch(bg, pending[:n])
				pending = pending[n:]
			}
			return
		}
	}
}

func (s *Source) deleteBatch(ctx context.Context, hs []*held) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	entries := make([]types.DeleteMessageBatchRequestEntry, len(hs))
	for i, h := range hs {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h.receipt)}
	}
	out, err := s.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(s.queueURL), Entries: entries})
	if err != nil {
		// The messages come back and are processed again, which adds
		// nothing: saving findings is idempotent.
		s.log.Error("delete failed; the messages will be received again", "messages", len(hs), "err", err)
		return
	}
	s.Deleted.Add(int64(len(out.Successful)))
	for _, f := range out.Failed {
		i, _ := strconv.Atoi(aws.ToString(f.Id))
		id := ""
		if i >= 0 && i < len(hs) {
			id = hs[i].id
		}
		s.log.Warn("delete failed; the message will be received again", "message_id", id, "code", aws.ToString(f.Code), "err", aws.ToString(f.Message))
	}
}

// extender keeps the messages being worked on invisible: every quarter
// timeout it extends those last extended half a timeout ago or more.
func (s *Source) extender(life context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(max(s.vis/4, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-life.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		s.mu.Lock()
		var due []*held
		for _, h := range s.inflight {
			if now.Sub(time.Unix(0, h.extended.Load())) >= s.vis/2 {
				due = append(due, h)
			}
		}
		s.mu.Unlock()
		for len(due) > 0 {
			n := min(len(due), 10)
			s.changeVisibility(life, due[:n], int32(s.cfg.VisibilityTimeout))
			due = due[n:]
		}
	}
}

// changeVisibility sets the visibility timeout of messages still in
// flight: an extension (secs > 0, the messages stay in flight) or a
// release (secs 0, they are finished first). A message SQS no longer
// knows under its receipt handle is lost: its timeout ran out and it may
// be with another consumer.
func (s *Source) changeVisibility(ctx context.Context, hs []*held, secs int32) {
	var entries []types.ChangeMessageVisibilityBatchRequestEntry
	var sent []*held
	for _, h := range hs {
		if secs == 0 {
			if !h.finish() {
				continue
			}
			s.untrack(h)
		} else {
			h.mu.Lock()
			if h.done {
				h.mu.Unlock()
				continue
			}
			defer h.mu.Unlock() // held until the extension is answered
		}
		entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(len(sent))), ReceiptHandle: aws.String(h.receipt), VisibilityTimeout: secs})
		sent = append(sent, h)
	}
	if len(entries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	at := time.Now()
	out, err := s.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(s.queueURL), Entries: entries})
	what := "extend visibility"
	if secs == 0 {
		what = "release"
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn(what+" failed", "messages", len(sent), "err", err)
		}
		return
	}
	for _, ok := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && i < len(sent) && secs > 0 {
			sent[i].extended.Store(at.UnixNano())
		}
	}
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i >= len(sent) {
			continue
		}
		h := sent[i]
		if secs > 0 {
			h.done = true // h.mu is held
			s.untrack(h)
		}
		s.log.Warn(what+" failed; the message may be received again", "message_id", h.id, "code", aws.ToString(f.Code), "err", aws.ToString(f.Message))
	}
}

// release makes messages not acknowledged visible again at once.
func (s *Source) release(ctx context.Context, hs []*held) {
	for len(hs) > 0 {
		n := min(len(hs), 10)
		s.changeVisibility(ctx, hs[:n], 0)
		hs = hs[n:]
	}
}

// s3Getter is the S3Getter of an aws-sdk-go-v2 client.
type s3Getter struct{ c *s3.Client }

func (g *s3Getter) GetObject(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := g.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *s3types.NoSuchKey
		var nsb *s3types.NoSuchBucket
		var ae smithy.APIError
		if errors.As(err, &nsk) || errors.As(err, &nsb) || (errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NoSuchBucket")) {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, err
	}
	return out.Body, nil
}

// Counters reports the source's message counts for metrics.
func (s *Source) Counters() map[string]int64 {
	return map[string]int64{"received": s.Received.Load(), "deleted": s.Deleted.Load(), "failed": s.Failed.Load(), "poison": s.Poison.Load()}
}
