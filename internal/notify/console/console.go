// Package console is the channel that prints alerts to a stream (standard
// output by default): the default when no other channel is configured.
// Every field of the finding is escaped before it reaches the terminal
// (package printable): an event field cannot clear the screen or forge a
// line of the alert.
package console

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/printable"
)

// Config configures the console channel.
type Config struct {
	// Stream is "stdout" (default) or "stderr".
	Stream string `yaml:"stream"`
	// Format is "text" (default: the rendered title and body) or "line"
	// (the one-line summary).
	Format string `yaml:"format"`
}

// Check validates the configuration.
func (c *Config) Check(func(string) string) error {
	switch c.Stream {
	case "", "stdout", "stderr":
	default:
		return fmt.Errorf("stream: %q is not stdout or stderr", c.Stream)
	}
	switch c.Format {
	case "", "text", "line":
	default:
		return fmt.Errorf("format: %q is not text or line", c.Format)
	}
	return nil
}

// Notifier prints alerts.
type Notifier struct {
	mu   sync.Mutex
	w    io.Writer
	line bool
	tpl  *notify.Templates
}

// New returns a console notifier.
func New(c Config, o notify.Options) (*Notifier, error) {
	o = o.Defaults()
	var w io.Writer = os.Stdout
	if c.Stream == "stderr" {
		w = os.Stderr
	}
	return NewWriter(w, c.Format == "line", o), nil
}

// NewWriter prints to w.
func NewWriter(w io.Writer, line bool, o notify.Options) *Notifier {
	o = o.Defaults()
	return &Notifier{w: w, line: line, tpl: o.Templates}
}

// Notify prints one alert.
func (n *Notifier) Notify(_ context.Context, m notify.Message) (notify.Result, error) {
	m.Finding = printable.Finding(m.Finding)
	m.DashboardURL = printable.Line(m.DashboardURL)
	t, err := n.tpl.Render(m)
	if err != nil {
		return notify.Result{}, err
	}
	// Templates are the operator's; escape what they produced too.
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.line {
		_, err = fmt.Fprintln(n.w, printable.Line(t.Short))
	} else {
		_, err = fmt.Fprintf(n.w, "=== %s\n%s\n", printable.Line(t.Title), printable.Text(t.Body))
	}
	if err != nil {
		return notify.Result{}, notify.Permanentf("console: %v", err)
	}
	return notify.Result{}, nil
}
