// Package duration is the one grammar trailwatch reads durations in, wherever
// they are written: rule TTLs, channel max_age, heartbeat max_silence, source
// poll_interval, `findings --since/--until`, and the rest.
//
// A duration is one or more pairs of a number and a unit, optionally
// separated by spaces: "90s", "15m", "24h", "7d", "2w", "1h30m", "1.5h",
// "1d 12h", "3 days", "10 minutes". Units: ns, us (µs), ms, s (sec, secs,
// second, seconds), m (min, mins, minute, minutes), h (hr, hrs, hour,
// hours), d (day, days: 24 hours), w (wk, week, weeks: 7 days). "0" alone
// is zero. A number without a unit is an error that says how to write it,
// because "30" could mean seconds or hours. Negative durations are not
// accepted: nothing in trailwatch is configured with one.
package duration

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Day and Week are the calendar-free units: 24 and 168 hours.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

var units = map[string]time.Duration{
	"ns": time.Nanosecond,
	"us": time.Microsecond, "µs": time.Microsecond, "μs": time.Microsecond,
	"ms": time.Millisecond,
	"s":  time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": Day, "day": Day, "days": Day,
	"w": Week, "wk": Week, "week": Week, "weeks": Week,
}

// Examples is what error messages suggest.
const Examples = "e.g. 90s, 15m, 24h, 7d or 1h30m"

// Parse reads a duration in the grammar of the package comment.
func Parse(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration (write one such as %s)", Examples)
	}
	if in == "0" {
		return 0, nil
	}
	if strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("%q: a duration cannot be negative", s)
	}
	rest := strings.TrimPrefix(in, "+")
	var total float64
	pairs := 0
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t")
		// The number.
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%q is not a duration (write one such as %s)", s, Examples)
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (write one such as %s)", s, Examples)
		}
		rest = strings.TrimLeft(rest[i:], " \t")
		// The unit: letters (µ included).
		j := 0
		for j < len(rest) {
			r := []rune(rest[j:])[0]
			if !unicode.IsLetter(r) {
				break
			}
			j += len(string(r))
		}
		if j == 0 {
			if pairs == 0 && rest == "" {
				return 0, fmt.Errorf("%q has no unit: write %ss, %sm, %sh or %sd", s, in, in, in, in)
			}
			return 0, fmt.Errorf("%q: a number without a unit (write one such as %s)", s, Examples)
		}
		unit, ok := units[strings.ToLower(rest[:j])]
		if !ok {
			return 0, fmt.Errorf("%q: unknown unit %q (use s, m, h, d or w; %s)", s, rest[:j], Examples)
		}
		total += num * float64(unit)
		if total > math.MaxInt64 {
			return 0, fmt.Errorf("%q is too long a duration", s)
		}
		pairs++
		rest = strings.TrimLeft(rest[j:], " \t,")
	}
	return time.Duration(math.Round(total)), nil
}

// Format writes d the way Parse reads it, in the largest units that divide
// it exactly: "7d", "36h", "1h30m", "90s", "1.5s".
func Format(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 0:
		return "-" + Format(-d)
	case d%Week == 0:
		return strconv.FormatInt(int64(d/Week), 10) + "w"
	case d%Day == 0:
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	case d%time.Second != 0:
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			d -= n * u.d
		}
	}
	return b.String()
}

// Duration is a time.Duration read and written in this grammar, for
// configuration structs (YAML and JSON both use the text form).
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration.
func (d Duration) String() string { return Format(time.Duration(d)) }

// UnmarshalText parses the text form.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the text form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
