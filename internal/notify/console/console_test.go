package console

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
)

func TestPrints(t *testing.T) {
	var b bytes.Buffer
	n := NewWriter(&b, false, notify.Options{})
	if _, err := n.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "=== [VERY_HIGH] EKS cluster configuration changed: prod\n") || !strings.Contains(b.String(), "0.0.0.0/0") {
		t.Errorf("output:\n%s", b.String())
	}
	b.Reset()
	NewWriter(&b, true, notify.Options{}).Notify(context.Background(), notifytest.Message())
	if strings.Count(b.String(), "\n") != 1 || !strings.HasPrefix(b.String(), "trailwatch VERY_HIGH:") {
		t.Errorf("line output: %q", b.String())
	}
	if err := (&Config{Stream: "printer"}).Check(nil); err == nil {
		t.Error("bad stream accepted")
	}
}
