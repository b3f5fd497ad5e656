package event

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxRecordSize bounds one record (or one top-level JSON value that
// is not a streamed Records array). CloudTrail caps an event at 256 KB; the
// default leaves room for oddly padded test data without letting one absurd
// record exhaust memory.
const DefaultMaxRecordSize = 16 << 20

// DefaultMaxValues bounds the JSON values (objects, arrays, strings,
// numbers, literals) of one record, which is what decoding amplifies: a
// record of small values ({}, 0) costs tens of bytes of memory per byte of
// input once decoded. No real CloudTrail event comes near it: CloudTrail
// caps an event at 256 KB, and every value but a nested bracket needs at
// least two bytes with its separator.
const DefaultMaxValues = 1 << 17

// ErrTooManyValues is wrapped by errors about a record holding more JSON
// values than the limit.
var ErrTooManyValues = errors.New("too many JSON values")

// Item is one record found in an input stream: the bytes exactly as they
// came (for an EventBridge envelope, the whole envelope) plus the byte spans
// a rule engine needs to decide, without decoding, whether the record can
// match anything.
type Item struct {
	// Index is the position of the record in its input, counted from 0.
	Index int
	// Raw holds the record's bytes. It aliases the splitter's buffer and is
	// valid only until the next call to Next; copy it to keep it.
	Raw []byte
	// Source and Name are the raw (still JSON-escaped, without quotes)
	// eventSource and eventName of the CloudTrail record; empty when the
	// object is not a CloudTrail record.
	Source, Name []byte
	// Envelope reports whether Raw is an EventBridge envelope whose detail
	// is the CloudTrail record; Detail is then that record's bytes.
	Envelope bool
	Detail   []byte
	// MaxValues is the most JSON values Decode accepts in the record;
	// zero means DefaultMaxValues.
	MaxValues int
	// ErrorCode, Identity and Region are the raw values (quotes included)
	// of the record's errorCode, userIdentity and awsRegion, nil when the
	// record has none: rules that watch every event look into these
	// before the record is decoded.
	ErrorCode, Identity, Region []byte
}

// Record returns the CloudTrail record bytes: the envelope's detail, or Raw.
func (it *Item) Record() []byte {
	if it.Envelope {
		return it.Detail
	}
	return it.Raw
}

// SyntaxError is a structural problem in an input, with the record index and
// byte offset where it was noticed.
type SyntaxError struct {
	Index  int
	Offset int64
	Msg    string
	// Err is a sentinel the error wraps (ErrRecordTooLarge), or nil.
	Err error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("record %d (byte %d): %s", e.Index, e.Offset, e.Msg)
}

// Unwrap returns the sentinel, if any.
func (e *SyntaxError) Unwrap() error { return e.Err }

// ErrRecordTooLarge is wrapped by errors about a value over the size limit.
var ErrRecordTooLarge = errors.New("record too large")

// Splitter cuts a stream holding CloudTrail records in any delivery format
// into records, without decoding them: {"Records":[…]} files (streamed, so
// a trail of any size needs memory for one record only), bare arrays, JSON
// lines or concatenated values, EventBridge envelopes and single records.
// It is not safe for concurrent use.
type Splitter struct {
	r       io.Reader
	buf     []byte
	start   int // first unconsumed byte
	end     int // end of valid data
	offset  int64
	eof     bool
	readErr error
	max     int
	values  int // MaxValues of the items
	index   int
	// mode: 0 top level, 1 inside a streamed array (bare or Records).
	mode int
	// after a streamed Records array closes, the wrapper object may still
	// hold other keys to skip before its closing brace.
	inWrapper bool
	first     bool   // no element of the streamed array seen yet
	topValues int    // complete top-level objects read (JSON lines)
	err       error  // sticky error, cleared by Resync
	pending   []Item // items from a buffered container value
	filled    bool   // the last read filled the buffer: more is coming
}

// NewSplitter returns a Splitter reading r. maxRecord bounds one record;
// zero means DefaultMaxRecordSize.
func NewSplitter(r io.Reader, maxRecord int) *Splitter {
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecordSize
	}
	return &Splitter{r: r, buf: make([]byte, startBuf), max: maxRecord}
}

// The read buffer starts at startBuf, enough for an EventBridge event or
// a small file, and doubles up to fullBuf while the input keeps filling
// it (a read that fills it says more is coming); past fullBuf it grows
// only for a record that does not fit (up to the record limit). A webhook
// request of one event so allocates 16 KiB, not 256 KiB (at thousands of
// requests a second that allocation, zeroed, was a large part of the
// collector's work), while a streamed trail file reaches the full buffer
// after a few reads.
const (
	startBuf = 16 << 10
	fullBuf  = 256 << 10
)

// Reset makes the Splitter read r from the start, keeping its buffer, so
// one Splitter can serve many inputs without new allocations.
func (s *Splitter) Reset(r io.Reader) {
	buf, max, values := s.buf, s.max, s.values
	*s = Splitter{r: r, buf: buf, max: max, values: values}
}

// SetMaxValues bounds the JSON values of each record the Splitter hands
// out (Item.MaxValues); zero means DefaultMaxValues.
func (s *Splitter) SetMaxValues(n int) { s.values = n }

// Next returns the next record. It returns io.EOF when the input is
// exhausted, and a *SyntaxError (possibly wrapping ErrRecordTooLarge) when
// the input is malformed; after a syntax error the rest of the input cannot
// be split reliably and Next keeps returning that error.
func (s *Splitter) Next() (Item, error) {
	if s.err != nil {
		return Item{}, s.err
	}
	it, err := s.next()
	if err != nil && err != io.EOF {
		s.err = err
	}
	return it, err
}

// Resync tries to continue after an error: in JSON lines input it skips to
// the next line and reports true. Inside a Records array or a single
// document, or after a read error, nothing after the error can be trusted
// and it reports false.
func (s *Splitter) Resync() bool {
	var se *SyntaxError
	if s.err == nil || !errors.As(s.err, &se) || s.mode != 0 || s.inWrapper || s.topValues == 0 || s.readErr != nil {
		return false
	}
	s.err = nil
	s.pending = nil
	s.index++ // the bad line counts as a record
	if s.start < s.end {
		s.start++
	}
	for {
		if i := bytes.IndexByte(s.buf[s.start:s.end], '\n'); i >= 0 {
			s.start += i + 1
			return true
		}
		s.start = s.end
		ok, err := s.fill()
		if err != nil || !ok {
			return false
		}
	}
}

func (s *Splitter) next() (Item, error) {
	for {
		if len(s.pending) > 0 {
			it := s.pending[0]
			s.pending = s.pending[1:]
			return it, nil
		}
		if s.mode == 1 {
			it, ok, err := s.nextElement()
			if err != nil || ok {
				return it, err
			}
			continue // array closed
		}
		if s.inWrapper {
			if err := s.finishWrapper(); err != nil {
				return Item{}, err
			}
			continue
		}
		c, err := s.peekNonSpace()
		if err != nil {
			return Item{}, err
		}
		switch c {
		case '[':
			s.consume(1)
			s.mode = 1
			s.startArray()
			continue
		case '{':
			if ok, err := s.tryRecordsWrapper(); err != nil {
				return Item{}, err
			} else if ok {
				continue
			}
			n, f, err := s.recordEnd()
			if err != nil {
				return Item{}, err
			}
			raw := s.buf[s.start : s.start+n]
			items, err := s.expandObject(raw, f)
			if err != nil {
				return Item{}, err
			}
			s.consume(n)
			s.topValues++
			s.pending = items
			continue
		default:
			return Item{}, s.syntax(fmt.Sprintf("expected '{' or '[' at top level, found %q", c))
		}
	}
}

func (s *Splitter) syntax(msg string) error {
	return &SyntaxError{Index: s.index, Offset: s.offset + int64(s.start), Msg: msg}
}

// fill reads more input, compacting and growing the buffer as needed. It
// returns false at EOF.
func (s *Splitter) fill() (bool, error) {
	if s.eof {
		return false, s.readErr
	}
	if s.start > 0 && (s.start == s.end || s.start > len(s.buf)/2) {
		copy(s.buf, s.buf[s.start:s.end])
		s.offset += int64(s.start)
		s.end -= s.start
		s.start = 0
	}
	if len(s.buf) < fullBuf && s.filled {
		nb := make([]byte, min(len(s.buf)*2, fullBuf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= s.max+(64<<10) {
			return false, &SyntaxError{Index: s.index, Offset: s.offset + int64(s.start), Msg: fmt.Sprintf("a value exceeds %d bytes: %v", s.max, ErrRecordTooLarge), Err: ErrRecordTooLarge}
		}
		nb := make([]byte, min(len(s.buf)*2, s.max+(64<<10)))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for {
		free := len(s.buf) - s.end
		n, err := s.r.Read(s.buf[s.end:])
		s.filled = n == free
		s.end += n
		if err != nil {
			s.eof = true
			if err != io.EOF {
				s.readErr = err
			}
			return n > 0, s.readErrIfNone(n)
		}
		if n > 0 {
			return true, nil
		}
	}
}

func (s *Splitter) readErrIfNone(n int) error {
	if n > 0 {
		return nil
	}
	return s.readErr
}

func (s *Splitter) consume(n int) { s.start += n }

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// peekNonSpace skips white space and returns the next byte, or io.EOF.
func (s *Splitter) peekNonSpace() (byte, error) {
	for {
		for s.start < s.end {
			c := s.buf[s.start]
			if !isSpace(c) {
				if c == 0xEF && s.end-s.start < 3 && !s.eof {
					break // a byte order mark may be split across reads
				}
				if c == 0xEF && s.end-s.start >= 3 && s.buf[s.start+1] == 0xBB && s.buf[s.start+2] == 0xBF {
					s.start += 3 // UTF-8 byte order mark
					continue
				}
				return c, nil
			}
			s.start++
		}
		ok, err := s.fill()
		if err != nil {
			return 0, fmt.Errorf("read: %w", err)
		}
		if !ok {
			return 0, io.EOF
		}
	}
}

// valueEnd returns the length of the complete JSON value starting at
// s.start (which must not be white space), reading more input as needed.
func (s *Splitter) valueEnd() (int, error) {
	n, _, err := s.recordEnd()
	return n, err
}

// recordEnd is valueEnd that also reports the top-level fields of an
// object, found in the same pass.
func (s *Splitter) recordEnd() (int, fields, error) {
	for {
		n, st, f := scanRecord(s.buf[s.start:s.end])
		switch st {
		case scanDone:
			if n > s.max {
				e := s.syntax(fmt.Sprintf("record of %d bytes exceeds the limit of %d: %v", n, s.max, ErrRecordTooLarge)).(*SyntaxError)
				e.Err = ErrRecordTooLarge
				return 0, f, e
			}
			return n, f, nil
		case scanBad:
			return 0, f, s.syntax(fmt.Sprintf("malformed JSON at byte %d of the record", n))
		}
		ok, err := s.fill()
		if err != nil {
			if errors.Is(err, ErrRecordTooLarge) {
				return 0, f, err
			}
			return 0, f, fmt.Errorf("read: %w", err)
		}
		if !ok {
			return 0, f, s.syntax("unexpected end of input inside a record (truncated file?)")
		}
	}
}

// startArray is called after '[' of a streamed array.
func (s *Splitter) startArray() { s.first = true }

// nextElement returns the next element of the streamed array; ok is false
// when the array closed.
func (s *Splitter) nextElement() (Item, bool, error) {
	c, err := s.peekNonSpace()
	if err == io.EOF {
		return Item{}, false, s.syntax("unexpected end of input inside an array (truncated file?)")
	}
	if err != nil {
		return Item{}, false, err
	}
	if c == ']' {
		s.consume(1)
		s.mode = 0
		return Item{}, false, nil
	}
	if !s.first {
		if c != ',' {
			return Item{}, false, s.syntax(fmt.Sprintf("expected ',' or ']' between records, found %q", c))
		}
		s.consume(1)
		if c, err = s.peekNonSpace(); err != nil {
			if err == io.EOF {
				return Item{}, false, s.syntax("unexpected end of input inside an array (truncated file?)")
			}
			return Item{}, false, err
		}
	}
	s.first = false
	if c != '{' {
		return Item{}, false, s.syntax(fmt.Sprintf("expected a record object in the array, found %q", c))
	}
	n, f, err := s.recordEnd()
	if err != nil {
		return Item{}, false, err
	}
	it := s.itemOf(s.buf[s.start:s.start+n], f)
	s.consume(n)
	return it, true, nil
}

func (s *Splitter) item(raw []byte) Item {
	_, _, f := scanRecord(raw)
	return s.itemOf(raw, f)
}

func (s *Splitter) itemOf(raw []byte, f fields) Item {
	it := Item{Index: s.index, Raw: raw, MaxValues: s.values}
	s.index++
	if f.trail {
		it.Source, it.Name = f.source, f.name
		it.ErrorCode, it.Identity, it.Region = f.errorCode, f.identity, f.region
	}
	if f.detail != nil && (f.detailType || f.envSource) {
		_, _, d := scanRecord(f.detail)
		it.Envelope, it.Detail = true, f.detail
		it.Source, it.Name = nil, nil
		it.ErrorCode, it.Identity, it.Region = nil, nil, nil
		if d.trail {
			it.Source, it.Name = d.source, d.name
			it.ErrorCode, it.Identity, it.Region = d.errorCode, d.identity, d.region
		}
	}
	return it
}

// tryRecordsWrapper checks whether the object at s.start begins with the key
// "Records" and an array; if so it consumes up to and including '[' and
// switches to streaming that array.
func (s *Splitter) tryRecordsWrapper() (bool, error) {
	for {
		i := s.start + 1
		for i < s.end && isSpace(s.buf[i]) {
			i++
		}
		const key = `"Records"`
		if i+len(key) <= s.end {
			if !bytes.Equal(s.buf[i:i+len(key)], []byte(key)) {
				return false, nil
			}
			j := i + len(key)
			for j < s.end && isSpace(s.buf[j]) {
				j++
			}
			if j < s.end && s.buf[j] != ':' {
				return false, nil
			}
			j++
			for j < s.end && isSpace(s.buf[j]) {
				j++
			}
			if j < s.end {
				if s.buf[j] != '[' {
					return false, nil
				}
				s.consume(j + 1 - s.start)
				s.mode = 1
				s.inWrapper = true
				s.startArray()
				return true, nil
			}
		}
		ok, err := s.fill()
		if err != nil {
			return false, fmt.Errorf("read: %w", err)
		}
		if !ok {
			return false, nil // let valueEnd report the truncation
		}
	}
}

// finishWrapper consumes the rest of a {"Records":[…] …} object after its
// array closed: other members are skipped, then the closing brace.
func (s *Splitter) finishWrapper() error {
	for {
		c, err := s.peekNonSpace()
		if err == io.EOF {
			return s.syntax("unexpected end of input: the Records object is not closed (truncated file?)")
		}
		if err != nil {
			return err
		}
		switch c {
		case '}':
			s.consume(1)
			s.inWrapper = false
			return nil
		case ',':
			s.consume(1)
			// key
			if c, err = s.peekNonSpace(); err != nil || c != '"' {
				return s.syntax("malformed member after the Records array")
			}
			n, err := s.valueEnd()
			if err != nil {
				return err
			}
			s.consume(n)
			if c, err = s.peekNonSpace(); err != nil || c != ':' {
				return s.syntax("malformed member after the Records array")
			}
			s.consume(1)
			if _, err = s.peekNonSpace(); err != nil {
				return s.syntax("malformed member after the Records array")
			}
			if n, err = s.valueEnd(); err != nil {
				return err
			}
			s.consume(n)
		default:
			return s.syntax(fmt.Sprintf("expected ',' or '}' after the Records array, found %q", c))
		}
	}
}

// expandObject turns one buffered top-level object into items: the elements
// of its Records array when it has one, else the object itself. Items alias
// the buffer, which stays valid until the next fill (pending items are
// returned before any further read).
func (s *Splitter) expandObject(raw []byte, f fields) ([]Item, error) {
	if f.records == nil {
		return []Item{s.itemOf(raw, f)}, nil
	}
	var items []Item
	arr := f.records
	i := 1
	for {
		for i < len(arr) && (isSpace(arr[i]) || arr[i] == ',') {
			i++
		}
		if i >= len(arr) || arr[i] == ']' {
			break
		}
		n, st := scanValue(arr[i:])
		if st != scanDone {
			return nil, s.syntax("malformed element in the Records array")
		}
		if arr[i] != '{' {
			return nil, s.syntax(fmt.Sprintf("expected a record object in the Records array, found %q", arr[i]))
		}
		items = append(items, s.item(arr[i:i+n]))
		i += n
	}
	return items, nil
}
