// Package s3source is the source that reads CloudTrail log files from the
// S3 bucket a trail delivers to, by polling: it finds every account and
// region under <prefix>/AWSLogs/ (organization trails included), lists the
// objects of each after its checkpoint, in key order (date and time), and
// hands each object out in chunks (source.Limits; one batch for a usual
// log file), the next chunk of an object once the previous one is
// committed. The checkpoint of an account and region moves only when its
// objects are acknowledged, in order, so a restart resumes where the last
// committed object left off; an object part-way has its own checkpoint
// ("<stream key>#partial": key, ETag and records committed), so a restart
// resumes it after its last committed chunk. It also offers
// List, Open and Walk, which trailwatch scan uses for s3:// paths. It
// imports source, store, event and secret.
package s3source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Config configures the S3 source.
type Config struct {
	// Bucket is the trail's bucket; required.
	Bucket string `yaml:"bucket"`
	// Prefix is the trail's S3 key prefix (the part before AWSLogs/);
	// empty when the trail has none.
	Prefix string `yaml:"prefix"`
	// Region is the bucket's region; default: the AWS configuration's
	// (AWS_REGION, the profile), else us-east-1.
	Region string `yaml:"region"`
	// Endpoint overrides the S3 endpoint (an S3-compatible store, tests);
	// path-style addressing is used with it.
	Endpoint string `yaml:"endpoint"`
	// Accounts and Regions, when set, limit the source to these account
	// ids and regions.
	Accounts []string `yaml:"accounts"`
	Regions  []string `yaml:"regions"`
	// StartAfter is where an account and region without a checkpoint
	// starts: a date (2026-11-01) or an RFC 3339 time. Default: 24 hours
	// before the account and region is first seen.
	StartAfter string `yaml:"start_after"`
	// PollInterval is the pause between two passes over the bucket;
	// default 60s. 0 makes one pass, then the source is exhausted
	// (backfills).
	PollInterval string `yaml:"poll_interval"`
	// AccessKeyID and SecretAccessKey are static credentials (inline,
	// ${ENV} or *_file); default: the AWS credential chain.
	AccessKeyID         secret.Secret `yaml:"access_key_id"`
	AccessKeyIDFile     string        `yaml:"access_key_id_file"`
	SecretAccessKey     secret.Secret `yaml:"secret_access_key"`
	SecretAccessKeyFile string        `yaml:"secret_access_key_file"`
	// Profile is a shared AWS configuration profile; RoleARN a role to
	// assume (with the credentials above, or the default chain's).
	Profile string `yaml:"profile"`
	RoleARN string `yaml:"role_arn"`
	// ChunkRecords and ChunkBytes bound one chunk of a large object (its
	// own batch and transaction); defaults 2000 records and 4 MiB of
	// decompressed records.
	ChunkRecords int `yaml:"chunk_records"`
	ChunkBytes   int `yaml:"chunk_bytes"`

	checked          bool
	poll             time.Duration
	start            time.Time
	startDate        bool
	keyID, keySecret secret.Secret
}

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// Check applies defaults, resolves secrets and validates, reporting every
// problem with the key it concerns.
func (c *Config) Check(getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []error
	switch {
	case c.Bucket == "":
		errs = append(errs, errors.New("bucket: missing"))
	case strings.ContainsAny(c.Bucket, "/: \t"):
		errs = append(errs, fmt.Errorf("bucket: %q is not a bucket name (give the key prefix in prefix)", c.Bucket))
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoint: %q is not an http(s) URL", c.Endpoint))
		}
	}
	for i, a := range c.Accounts {
		if !accountRE.MatchString(a) {
			errs = append(errs, fmt.Errorf("accounts[%d]: %q is not a 12-digit account id", i, a))
		}
	}
	for i, r := range c.Regions {
		if !regionRE.MatchString(r) {
			errs = append(errs, fmt.Errorf("regions[%d]: %q is not a region name", i, r))
		}
	}
	c.start, c.startDate = time.Time{}, false
	if c.StartAfter != "" {
		if t, err := time.Parse(time.DateOnly, c.StartAfter); err == nil {
			c.start, c.startDate = t, true
		} else if t, err := time.Parse(time.RFC3339, c.StartAfter); err == nil {
			c.start = t.UTC()
		} else {
			errs = append(errs, fmt.Errorf("start_after: %q is not a date (2026-11-01) or RFC 3339 time", c.StartAfter))
		}
	}
	c.poll = 60 * time.Second
	if c.PollInterval != "" {
		d, err := duration.Parse(c.PollInterval)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("poll_interval: %q is not a duration (60s, 5m; 0 for one pass)", c.PollInterval))
		case d < 0:
			errs = append(errs, errors.New("poll_interval: must not be negative"))
		default:
			c.poll = d
		}
	}
	var err error
	if c.keyID, err = secret.Pick(c.AccessKeyID, c.AccessKeyIDFile, getenv, false); err != nil {
		errs = append(errs, fmt.Errorf("access_key_id: %w", err))
	}
	if c.keySecret, err = secret.Pick(c.SecretAccessKey, c.SecretAccessKeyFile, getenv, false); err != nil {
		errs = append(errs, fmt.Errorf("secret_access_key: %w", err))
	}
	if c.keyID.Empty() != c.keySecret.Empty() {
		errs = append(errs, errors.New("access_key_id and secret_access_key: give both or neither"))
	}
	errs = append(errs, source.CheckLimits(c.ChunkRecords, c.ChunkBytes)...)
	c.checked = len(errs) == 0
	return errors.Join(errs...)
}

// Options configure a Source beyond its Config.
type Options struct {
	Wants  source.Wants
	Logger *slog.Logger
	// Checkpoints remember how far each account and region got; nil keeps
	// them in memory only (every start begins at start_after).
	Checkpoints store.Checkpoints
	// Now is the clock, for the default start; nil means time.Now.
	Now func() time.Time
	// Client talks to S3; nil builds one from the Config and the default
	// AWS configuration.
	Client Client
	// MaxRecord bounds one record; 0 means the default.
	MaxRecord int
	// PageSize is how many keys one ListObjectsV2 call asks for; default
	// 1000 (the S3 maximum).
	PageSize int32
	// ObjectTimeout bounds reading one object; default 5 minutes.
	ObjectTimeout time.Duration
	// After waits between passes; nil means time.After. Tests use it to
	// drive polls.
	After func(time.Duration) <-chan time.Time
	// Claim, when set, is asked before an account and region (named by
	// its checkpoint key) is listed or one of its objects handed out:
	// instances sharing a store read a prefix only while they hold its
	// claim (a lease). A stream whose claim is lost stops at once and
	// forgets what it listed (acknowledgements of objects handed out
	// before no longer move its checkpoint); claimed again, it resumes
	// from the checkpoint in the store, where the other holder left it.
	Claim func(ctx context.Context, key string) bool
	// Limits bound a chunk; zero means the configuration's (chunk_records,
	// chunk_bytes).
	Limits source.Limits
}

// Source polls a trail's bucket. Read is called from one goroutine; Ack
// from any.
type Source struct {
	name    string
	cfg     Config
	opts    Options
	client  Client
	ck      store.Checkpoints
	log     *slog.Logger
	base    string // <prefix>/AWSLogs/
	closed  chan struct{}
	closeMu sync.Once

	// Owned by the Read goroutine.
	streams map[string]*stream
	order   []string
	rr      int
	poll    source.Poller

	life context.Context // ends at Close: object downloads stop
	stop context.CancelFunc

	mu sync.Mutex // guards the fields of every stream marked below

	// Counters for metrics: objects handed out, listing and reading
	// failures (each retried at the next pass).
	Objects, ListErrors, ReadErrors atomic.Int64
}

// stream is one account and region: the objects under
// <prefix>/AWSLogs/[<o-id>/]<account>/CloudTrail/<region>/.
type stream struct {
	account, region string
	list            string // key prefix of the log files
	ck              string // checkpoint key

	// Guarded by Source.mu.
	cursor      string     // list after this key
	more        bool       // the current pass has more keys to list
	queue       []string   // listed, not handed out yet
	outstanding []*pending // handed out, in key order, not yet committed
	committed   string     // every object up to here is acknowledged
	gen         int        // bumped by a rewind; older acks are ignored

	lost bool // its claim was lost; owned by the Read goroutine

	ckMu  sync.Mutex // serialises checkpoint writes
	saved string     // the value last stored; guarded by ckMu
}

type pending struct {
	key         string
	done, acked bool
}

// New builds the source, without I/O: Start builds the S3 client and
// checks the bucket.
func New(name string, c Config, o Options) (*Source, error) {
	if !c.checked {
		if err := c.Check(os.Getenv); err != nil {
			return nil, fmt.Errorf("s3 source %s: %w", name, err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PageSize <= 0 || o.PageSize > 1000 {
		o.PageSize = 1000
	}
	if o.ObjectTimeout <= 0 {
		o.ObjectTimeout = 5 * time.Minute
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Checkpoints == nil {
		o.Checkpoints = &memCheckpoints{m: map[string]string{}}
	}
	if o.Limits == (source.Limits{}) {
		o.Limits = source.Limits{Records: c.ChunkRecords, Bytes: c.ChunkBytes}
	}
	o.Limits = o.Limits.OrDefault()
	s := &Source{name: name, cfg: c, opts: o, client: o.Client, ck: o.Checkpoints, log: o.Logger,
		closed: make(chan struct{}), streams: map[string]*stream{}}
	s.life, s.stop = context.WithCancel(context.Background())
	s.poll = source.Poller{Interval: c.poll, After: o.After, Closed: s.closed}
	s.base = "AWSLogs/"
	if c.Prefix != "" {
		s.base = c.Prefix + "/AWSLogs/"
	}
	return s, nil
}

// Start builds the S3 client (unless one was given) and checks that the
// bucket can be listed: a missing bucket, a wrong region or a denied
// permission is a permanent error; a network problem is worth retrying.
func (s *Source) Start(ctx context.Context) error {
	c := s.cfg
	if s.client == nil {
		cl, err := NewClient(ctx, ClientConfig{Region: c.Region, Endpoint: c.Endpoint, Profile: c.Profile, RoleARN: c.RoleARN,
			AccessKeyID: c.keyID.Reveal(), SecretAccessKey: c.keySecret.Reveal(), Logger: s.opts.Logger})
		if err != nil {
			return source.Permanent(fmt.Errorf("s3 source %s: %w", s.name, err))
		}
		s.client = cl
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := s.client.ListObjectsV2(lctx, &s3.ListObjectsV2Input{Bucket: aws.String(c.Bucket), Prefix: aws.String(s.base), MaxKeys: aws.Int32(1)})
	if err != nil {
		err = fmt.Errorf("s3 source %s: list s3://%s/%s: %w", s.name, c.Bucket, s.base, explain(err))
		if clientError(err) {
			return source.Permanent(err)
		}
		return err
	}
	return nil
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Close stops the source: Read returns source.ErrClosed. Objects handed
// out and not acknowledged are read again after a restart (their
// checkpoint did not move). Acknowledging after Close still saves
// checkpoints.
func (s *Source) Close(ctx context.Context) error {
	s.closeMu.Do(func() {
		close(s.closed)
		s.stop()
	})
	return nil
}

// Read returns the next chunk of the object being read, else the next
// object. It lists lazily, one page per account and region at a time,
// taking turns between them; when a pass is done it waits for the poll
// interval (or, with poll_interval 0, returns source.ErrExhausted).
func (s *Source) Read(ctx context.Context) (*source.Batch, error) {
	return s.poll.Read(ctx, s.nextObject, s.discover)
}

// nextObject opens the next listed object and returns its first chunk;
// nil when the pass has nothing more.
func (s *Source) nextObject(ctx context.Context) (*source.Batch, error) {
	for {
		st, p, gen, err := s.next(ctx)
		if err != nil || st == nil {
			return nil, err
		}
		b, err := s.fetch(ctx, st, p, gen)
		if err != nil {
			// Never handed out: the checkpoint must not wait for it.
			s.mu.Lock()
			if st.gen == gen {
				s.rewind(st)
			}
			s.mu.Unlock()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.ReadErrors.Add(1)
			s.log.Warn("object not read; retrying at the next pass", "account", st.account, "region", st.region, "err", err)
			continue
		}
		s.Objects.Add(1)
		return b, nil
	}
}

// ended is told how an object followed chunk by chunk ended.
func (s *Source) ended(st *stream, gen int) func(error) {
	return func(err error) {
		if source.Ended(err) || errors.Is(err, source.ErrAbandoned) {
			return // done, or a chunk failed (its Ack rewound the stream)
		}
		s.ReadErrors.Add(1)
		s.log.Warn("object not read to its end; reading it again from its last committed chunk at the next pass", "account", st.account, "region", st.region, "err", err)
		s.mu.Lock()
		if st.gen == gen {
			s.rewind(st)
		}
		s.mu.Unlock()
	}
}

// next hands out the next listed object, taking turns between the
// streams, listing a page where a stream's queue is empty. It returns a
// nil stream when the pass is done.
func (s *Source) next(ctx context.Context) (*stream, *pending, int, error) {
	n := len(s.order)
	for i := range n {
		st := s.streams[s.order[(s.rr+i)%n]]
		if !st.lost && s.opts.Claim != nil && !s.opts.Claim(ctx, st.ck) {
			s.mu.Lock()
			s.rewind(st)
			s.mu.Unlock()
			st.lost = true
			s.log.Info("account and region no longer claimed; another instance reads it", "account", st.account, "region", st.region)
		}
		if st.lost {
			continue
		}
		s.mu.Lock()
		for len(st.queue) == 0 && st.more {
			cursor, gen := st.cursor, st.gen
			s.mu.Unlock()
			keys, last, more, err := s.listPage(ctx, st.list, cursor)
			if err != nil && ctx.Err() != nil {
				return nil, nil, 0, ctx.Err()
			}
			if err != nil {
				s.ListErrors.Add(1)
				s.log.Warn("listing failed; retrying at the next pass", "account", st.account, "region", st.region, "err", err)
			}
			s.mu.Lock()
			if st.gen == gen {
				st.more = err == nil && more
				if err == nil {
					st.queue = keys
					if last != "" {
						st.cursor = last
					}
				}
			}
		}
		if len(st.queue) > 0 {
			p := &pending{key: st.queue[0]}
			st.queue = st.queue[1:]
			st.outstanding = append(st.outstanding, p)
			gen := st.gen
			s.mu.Unlock()
			s.rr = (s.rr + i + 1) % n
			return st, p, gen, nil
		}
		s.mu.Unlock()
	}
	return nil, nil, 0, nil
}

// rewind forgets what a stream handed out after its checkpoint; the next
// pass lists from the checkpoint again. Callers hold s.mu.
func (s *Source) rewind(st *stream) {
	st.gen++
	st.queue, st.outstanding, st.more = nil, nil, false
	st.cursor = st.committed
}

// acker returns the Ack of one object handed out whole.
func (s *Source) acker(st *stream, p *pending, gen int) func(context.Context, source.Result) error {
	return func(ctx context.Context, r source.Result) error {
		s.mu.Lock()
		if p.acked {
			s.mu.Unlock()
			return fmt.Errorf("s3 source %s: s3://%s/%s acknowledged twice", s.name, s.cfg.Bucket, p.key)
		}
		s.mu.Unlock()
		return s.objectAcked(ctx, st, p, gen, r.Err)
	}
}

// objectAcked records the end of one object: committed (err nil: the
// stream's checkpoint moves over it once its predecessors are committed
// too) or not (the stream is read again from its checkpoint).
func (s *Source) objectAcked(ctx context.Context, st *stream, p *pending, gen int, err error) error {
	s.mu.Lock()
	p.acked = true
	if st.gen != gen {
		// Rewound since: the object is read again anyway.
		s.mu.Unlock()
		return nil
	}
	if err != nil {
		s.rewind(st)
		s.mu.Unlock()
		s.log.Info("object not committed; reading it again at the next pass", "object", "s3://"+s.cfg.Bucket+"/"+p.key, "err", err)
		return nil
	}
	p.done = true
	moved := false
	for len(st.outstanding) > 0 && st.outstanding[0].done {
		st.committed = st.outstanding[0].key
		st.outstanding = st.outstanding[1:]
		moved = true
	}
	s.mu.Unlock()
	if !moved {
		return nil
	}
	return s.save(ctx, st)
}

// save stores a stream's committed position, newest value last.
func (s *Source) save(ctx context.Context, st *stream) error {
	st.ckMu.Lock()
	defer st.ckMu.Unlock()
	s.mu.Lock()
	v := st.committed
	s.mu.Unlock()
	if v == st.saved {
		return nil
	}
	if err := s.ck.SetCheckpoint(ctx, st.ck, v); err != nil {
		return fmt.Errorf("s3 source %s: save checkpoint %s: %w", s.name, st.ck, err)
	}
	st.saved = v
	return nil
}

// listPage lists one page of log files after cursor. last is the last key
// listed, filtered out or not.
func (s *Source) listPage(ctx context.Context, prefix, cursor string) (keys []string, last string, more bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(s.opts.PageSize)}
	if cursor != "" {
		in.StartAfter = aws.String(cursor)
	}
	out, err := s.client.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, "", false, fmt.Errorf("list s3://%s/%s: %w", s.cfg.Bucket, prefix, explain(err))
	}
	for _, o := range out.Contents {
		k := aws.ToString(o.Key)
		last = k
		if !Skipped(k) && strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys, last, aws.ToBool(out.IsTruncated) && last != "", nil
}

// folders lists the "subfolders" of prefix (common prefixes with
// delimiter /), as names without the trailing slash.
func (s *Source) folders(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")}
	seen := map[string]bool{}
	var out []string
	for {
		res, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			return out, fmt.Errorf("list s3://%s/%s: %w", s.cfg.Bucket, prefix, explain(err))
		}
		for _, cp := range res.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
			if name != "" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
		if !aws.ToBool(res.IsTruncated) || aws.ToString(res.NextContinuationToken) == "" {
			return out, nil
		}
		in.ContinuationToken = res.NextContinuationToken
	}
}

// discover finds the accounts and regions under AWSLogs/ and starts a
// pass: every stream lists again from its cursor. Streams found before
// are kept when a listing fails.
func (s *Source) discover(ctx context.Context) error {
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.ListErrors.Add(1)
		s.log.Warn("listing failed; retrying at the next pass", "err", err)
		return nil
	}
	// Streams whose claim was lost are found again, with their
	// checkpoint read afresh, once claimed.
	kept := s.order[:0]
	for _, ck := range s.order {
		if s.streams[ck].lost {
			delete(s.streams, ck)
			continue
		}
		kept = append(kept, ck)
	}
	s.order = kept
	type found struct{ org, account, region string }
	var all []found
	top, err := s.folders(ctx, s.base)
	if err != nil {
		if e := fail(err); e != nil {
			return e
		}
	}
	accounts := func(org string, names []string) error {
		for _, a := range names {
			if len(s.cfg.Accounts) > 0 && !contains(s.cfg.Accounts, a) {
				continue
			}
			p := s.base + a + "/CloudTrail/"
			if org != "" {
				p = s.base + org + "/" + a + "/CloudTrail/"
			}
			regions, err := s.folders(ctx, p)
			if err != nil {
				if e := fail(err); e != nil {
					return e
				}
			}
			for _, r := range regions {
				if len(s.cfg.Regions) == 0 || contains(s.cfg.Regions, r) {
					all = append(all, found{org, a, r})
				}
			}
		}
		return nil
	}
	var plain []string
	for _, name := range top {
		if !strings.HasPrefix(name, "o-") {
			plain = append(plain, name)
			continue
		}
		members, err := s.folders(ctx, s.base+name+"/")
		if err != nil {
			if e := fail(err); e != nil {
				return e
			}
		}
		if err := accounts(name, members); err != nil {
			return err
		}
	}
	if err := accounts("", plain); err != nil {
		return err
	}
	for _, f := range all {
		path := s.base + f.account + "/" + f.region
		list := s.base + f.account + "/CloudTrail/" + f.region + "/"
		if f.org != "" {
			path = s.base + f.org + "/" + f.account + "/" + f.region
			list = s.base + f.org + "/" + f.account + "/CloudTrail/" + f.region + "/"
		}
		ck := "s3://" + s.cfg.Bucket + "/" + path
		if _, ok := s.streams[ck]; ok {
			continue
		}
		if s.opts.Claim != nil && !s.opts.Claim(ctx, ck) {
			continue
		}
		st := &stream{account: f.account, region: f.region, list: list, ck: ck}
		v, err := s.ck.Checkpoint(ctx, ck)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.Warn("checkpoint not read; trying again at the next pass", "checkpoint", ck, "err", err)
			continue
		}
		if v == "" || !strings.HasPrefix(v, list) {
			v = s.startKey(st)
			if err := s.ck.SetCheckpoint(ctx, ck, v); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.Warn("start position not saved", "checkpoint", ck, "err", err)
			} else {
				st.saved = v
			}
		} else {
			st.saved = v
		}
		st.cursor, st.committed = v, v
		s.streams[ck] = st
		s.order = append(s.order, ck)
		s.log.Info("reading account and region", "account", f.account, "region", f.region, "after", v)
	}
	sort.Strings(s.order)
	s.mu.Lock()
	for _, st := range s.streams {
		st.more = true
	}
	s.mu.Unlock()
	return nil
}

// startKey is the synthetic key a stream without a checkpoint lists after:
// the start of start_after's day, or the file name of its minute
// (account_CloudTrail_region_YYYYMMDDTHHmmZ), which sorts just before the
// files of that minute.
func (s *Source) startKey(st *stream) string {
	t, date := s.cfg.start, s.cfg.startDate
	if t.IsZero() {
		t = s.opts.Now().UTC().Add(-24 * time.Hour)
	}
	k := st.list + t.Format("2006/01/02/")
	if date {
		return k
	}
	return k + st.account + "_CloudTrail_" + st.region + "_" + t.Format("20060102T1504Z")
}

// fetch opens one object and returns its first chunk; further chunks
// come from s.cur. A corrupt object is a batch with errors; an object that
// could not be read is an error. An object part-way (its chunks committed
// up to a point before a restart, and unchanged since: same ETag) resumes
// after its committed records.
func (s *Source) fetch(ctx context.Context, st *stream, p *pending, gen int) (*source.Batch, error) {
	key := p.key
	origin := "s3://" + s.cfg.Bucket + "/" + key
	// The download outlives this Read (its chunks are handed out one by
	// one), so it is bound to the source's life, not to ctx.
	octx, cancel := context.WithTimeout(s.life, s.opts.ObjectTimeout)
	stopRead := context.AfterFunc(ctx, cancel) // until the first chunk is read
	defer stopRead()
	out, err := s.client.GetObject(octx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		cancel()
		if notFound(err) {
			b := &source.Batch{Origin: origin, Errors: []error{fmt.Errorf("%s: deleted before it was read", origin)}}
			b.Ack = s.acker(st, p, gen)
			return b, nil
		}
		return nil, fmt.Errorf("read %s: %w", origin, explain(err))
	}
	version := key + "@" + aws.ToString(out.ETag)
	partial := st.ck + "#partial"
	skip := 0
	v, err := s.ck.Checkpoint(ctx, partial)
	if err != nil {
		cancel()
		out.Body.Close()
		return nil, fmt.Errorf("read checkpoint %s: %w", partial, err)
	}
	if pr := source.ParseProgress(v); !pr.Done && pr.Version == version {
		skip = pr.Records
		s.log.Info("resuming an object after its committed records", "object", origin, "records", skip)
	}
	var trails []source.Trail
	if tr, ok := source.TrailOfKey(key); ok {
		trails = []source.Trail{tr}
	}
	c := source.NewChunker(out.Body, origin, s.opts.Wants, s.opts.MaxRecord, s.opts.Limits, skip)
	feed := source.NewFeed(c, source.FeedOptions{
		Closer: closer(func() error { cancel(); return out.Body.Close() }),
		Origin: origin, Trails: trails,
		Nacked: func(_ bool, err error) { s.objectAcked(context.Background(), st, p, gen, err) },
		Commit: func(ctx context.Context, records int, done bool) error {
			if done {
				return s.objectAcked(ctx, st, p, gen, nil)
			}
			if err := s.ck.SetCheckpoint(ctx, partial, source.Progress{Version: version, Records: records}.String()); err != nil {
				return fmt.Errorf("s3 source %s: save checkpoint %s: %w", s.name, partial, err)
			}
			return nil
		},
	})
	b, err := feed.Next(ctx, s.closed)
	if err != nil {
		return nil, err
	}
	s.poll.Follow(feed, s.ended(st, gen))
	return b, nil
}

// closer is a function as an io.Closer.
type closer func() error

func (c closer) Close() error { return c() }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// memCheckpoints keeps checkpoints in memory.
type memCheckpoints struct {
	mu sync.Mutex
	m  map[string]string
}

func (m *memCheckpoints) Checkpoint(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[key], nil
}

func (m *memCheckpoints) SetCheckpoint(_ context.Context, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[key] = value
	return nil
}

// Counters reports the source's counts for metrics.
func (s *Source) Counters() map[string]int64 {
	return map[string]int64{"objects": s.Objects.Load(), "list_errors": s.ListErrors.Load(), "read_errors": s.ReadErrors.Load()}
}
