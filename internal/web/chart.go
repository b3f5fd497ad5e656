package web

import (
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
)

// chart is a stacked bar chart of findings per risk over time, drawn by the
// server as SVG (no chart library, no script).
type chart struct {
	Width, Height int
	Bars          []bar
	Max           int
	Labels        []axisLabel
	Empty         bool
	Summary       string // what the chart shows, for screen readers
}

type bar struct {
	X, W  int
	Parts []barPart
	Title string
}

type barPart struct {
	Y, H  int
	Class string
}

type axisLabel struct {
	X    int
	Text string
}

const (
	chartWidth   = 720
	chartHeight  = 160
	chartMaxBars = 60
)

// point is what the chart keeps of a finding.
type point struct {
	EventTime time.Time
	Risk      finding.Risk
}

// riskChart buckets findings by event time: hourly over 24 hours, daily
// otherwise (wider buckets when "all" spans more than 60 days).
func riskChart(list []point, now time.Time, window string) chart {
	c := chart{Width: chartWidth, Height: chartHeight}
	var start, end time.Time
	step := 24 * time.Hour
	switch window {
	case "24h":
		step = time.Hour
		end = now.Truncate(time.Hour).Add(time.Hour)
		start = end.Add(-24 * time.Hour)
	case "7d", "30d":
		days := 7
		if window == "30d" {
			days = 30
		}
		end = now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		start = end.Add(-time.Duration(days) * 24 * time.Hour)
	default:
		if len(list) == 0 {
			c.Empty, c.Summary = true, "no findings"
			return c
		}
		lo, hi := list[0].EventTime, list[0].EventTime
		for _, f := range list {
			if f.EventTime.Before(lo) {
				lo = f.EventTime
			}
			if f.EventTime.After(hi) {
				hi = f.EventTime
			}
		}
		start = lo.UTC().Truncate(24 * time.Hour)
		end = hi.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		for end.Sub(start)/step > chartMaxBars {
			step *= 2
		}
	}
	n := int(end.Sub(start) / step)
	if n < 1 {
		n = 1
	}
	counts := make([]map[finding.Risk]int, n)
	for i := range counts {
		counts[i] = map[finding.Risk]int{}
	}
	total := 0
	for _, f := range list {
		if f.EventTime.Before(start) || !f.EventTime.Before(end) {
			continue
		}
		counts[int(f.EventTime.Sub(start)/step)][f.Risk]++
		total++
	}
	for _, m := range counts {
		sum := 0
		for _, v := range m {
			sum += v
		}
		c.Max = max(c.Max, sum)
	}
	c.Empty = total == 0
	c.Summary = fmt.Sprintf("%d findings from %s to %s, in %d bars of %s", total,
		start.Format("2006-01-02 15:04"), end.Format("2006-01-02 15:04 UTC"), n, step)
	if c.Empty {
		return c
	}
	plot := chartHeight - 20
	w := chartWidth / n
	for i, m := range counts {
		b := bar{X: i * w, W: max(w-2, 1)}
		y := plot
		title := start.Add(time.Duration(i) * step).Format("2006-01-02 15:04")
		for _, r := range risks {
			if m[r] == 0 {
				continue
			}
			h := max(m[r]*plot/c.Max, 1)
			y -= h
			b.Parts = append(b.Parts, barPart{Y: y, H: h, Class: "risk-" + lower(r)})
			title += fmt.Sprintf(", %s %d", r, m[r])
		}
		b.Title = title
		c.Bars = append(c.Bars, b)
	}
	every := max(n/6, 1)
	layout := "01-02"
	if step < 24*time.Hour {
		layout = "15:04"
	}
	for i := 0; i < n; i += every {
		c.Labels = append(c.Labels, axisLabel{X: i * w, Text: start.Add(time.Duration(i) * step).Format(layout)})
	}
	return c
}

func lower(r finding.Risk) string {
	switch r {
	case finding.Low:
		return "low"
	case finding.Medium:
		return "medium"
	case finding.High:
		return "high"
	case finding.VeryHigh:
		return "very_high"
	case finding.Extreme:
		return "extreme"
	}
	return "unknown"
}
