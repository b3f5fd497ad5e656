package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
)

// startLogged is start with the service's log captured.
func startLogged(t testing.TB, cfg *config.Config) (map[string]string, *syncWriter, func()) {
	t.Helper()
	logs := &syncWriter{w: &strings.Builder{}}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan map[string]string, 1)
	svc, err := NewService(ctx, cfg, RunOptions{Getenv: getenv, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Started: func(a map[string]string) { addrs <- a }, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	a := <-addrs
	return a, logs, func() { cancel(); <-done }
}

func metric(t *testing.T, admin, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestSameEventThriceInOneBatchCountsOnce: stored once, counted once in
// trailwatch_findings_total, and the answer says so.
func TestSameEventThriceInOneBatchCountsOnce(t *testing.T) {
	cfg := testConfig(t, "https://receiver.example")
	addrs, logs, stop := startLogged(t, cfg)
	defer stop()
	ex, _ := os.ReadFile("../../examples/eventbridge.jsonl")
	line := strings.SplitN(string(ex), "\n", 2)[0] + "\n"
	code, msg := post(t, "http://"+addrs["eventbridge"]+"/events", apiKey, []byte(line+line+line))
	if code != http.StatusOK || !strings.Contains(msg, `"message":"3 records: 3 findings, 1 new, 2 already stored"`) {
		t.Errorf("answer: %d %s", code, msg)
	}
	// Every series exists from the start at 0; one of them counted 1.
	var counted []string
	for _, l := range strings.Split(metric(t, addrs["admin"], "trailwatch_findings_total{"), "\n") {
		if !strings.HasSuffix(l, " 0") {
			counted = append(counted, l)
		}
	}
	got := strings.Join(counted, "\n")
	if len(counted) != 1 || !strings.HasSuffix(got, " 1") {
		t.Errorf("trailwatch_findings_total after one event posted three times:\n%s", got)
	}
	// Posted again (README's first run: scan stored them before): the
	// answer and the log say why nothing new happens.
	code, msg = post(t, "http://"+addrs["eventbridge"]+"/events", apiKey, []byte(line))
	if code != http.StatusOK || !strings.Contains(msg, "1 record: 1 finding, all already stored") {
		t.Errorf("repeat: %d %s", code, msg)
	}
	if !strings.Contains(logs.String(), "1 record: 1 finding, all already stored") {
		t.Errorf("the log does not say the findings were already stored:\n%s", logs.String())
	}
}

func TestThousandsOfBadRecordsAreOneSummaryInTheLog(t *testing.T) {
	cfg := testConfig(t, "https://receiver.example")
	addrs, logs, stop := startLogged(t, cfg)
	defer stop()
	ex, _ := os.ReadFile("../../examples/eventbridge.jsonl")
	var body strings.Builder
	body.WriteString(strings.SplitN(string(ex), "\n", 2)[0] + "\n")
	for i := range 500 {
		fmt.Fprintf(&body, `{"eventSource":"eks.amazonaws.com","eventName":"CreateCluster","eventID":"bad-%d","eventTime":"yesterday"}`+"\n", i)
	}
	code, msg := post(t, "http://"+addrs["eventbridge"]+"/events", apiKey, []byte(body.String()))
	if code != http.StatusOK || !strings.Contains(msg, `"more_problems":490`) || len(msg) > 8<<10 {
		t.Errorf("answer: %d, %d bytes: %.300s", code, len(msg), msg)
	}
	out := logs.String()
	if n := strings.Count(out, `msg="bad record"`); n != maxLoggedProblems {
		t.Errorf("%d bad record lines, want %d", n, maxLoggedProblems)
	}
	if !strings.Contains(out, "count=490") {
		t.Errorf("the rest are not counted in one line:\n%.3000s", out)
	}
}

// TestReadinessHoldsUnderAFlood is the probe: 150 concurrent 1 MiB posts
// made /readyz flap. The flood is turned away (429) or committed, and
// readiness answers 200 throughout.
func TestReadinessHoldsUnderAFlood(t *testing.T) {
	cfg := testConfig(t, "https://receiver.example")
	setSourceKey(cfg, "max_body", "1048576")
	addrs, _, stop := startLogged(t, cfg)
	defer stop()
	payload := eventsBody(t, 0, 1<<20)
	stopProbe := make(chan struct{})
	probeDone := make(chan []int)
	go func() {
		var bad []int
		for {
			select {
			case <-stopProbe:
				probeDone <- bad
				return
			default:
			}
			resp, err := http.Get("http://" + addrs["admin"] + "/readyz")
			if err != nil {
				bad = append(bad, -1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				bad = append(bad, resp.StatusCode)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	statuses := make(chan int, 150)
	for range 150 {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addrs["eventbridge"]+"/events", bytes.NewReader(payload))
			req.Header.Set("X-Api-Key", apiKey)
			resp, err := http.DefaultClient.Do(req)
			if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
				// Refused before its body was read: the server answered
				// 429 and closed while this client, starved of CPU, was
				// still sending. A taken request is always read whole.
				statuses <- http.StatusTooManyRequests
				return
			}
			if err != nil {
				t.Logf("post: %v", err)
				statuses <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	counts := map[int]int{}
	for range 150 {
		counts[<-statuses]++
	}
	close(stopProbe)
	if bad := <-probeDone; len(bad) > 0 {
		t.Errorf("/readyz failed %d times during the flood: %v", len(bad), bad)
	}
	if counts[http.StatusOK] == 0 || counts[http.StatusOK]+counts[http.StatusTooManyRequests] != 150 {
		t.Errorf("answers: %v; want 200s and 429s only", counts)
	}
	t.Logf("answers: %v", counts)
}

// eventsBody is about size bytes of JSON lines of the first example event
// with distinct event ids (round tells rounds of a benchmark apart).
func eventsBody(t testing.TB, round, size int) []byte {
	ex, err := os.ReadFile("../../examples/eventbridge.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.SplitN(string(ex), "\n", 2)[0]
	var b strings.Builder
	for i := 0; b.Len() < size-len(line)-1; i++ {
		b.WriteString(strings.Replace(line, "9e8d7c6b-0000-4000-8000-000000000020", fmt.Sprintf("9e8d7c6b-%04d-4000-8000-%012d", round, i), 1) + "\n")
	}
	return []byte(b.String())
}

// setSourceKey changes a setting of the first source as written.
func setSourceKey(cfg *config.Config, key, value string) {
	n := cfg.Sources[0].Node.Content
	for i := 0; i+1 < len(n); i += 2 {
		if n[i].Value == key {
			n[i+1].Value = value
		}
	}
}
