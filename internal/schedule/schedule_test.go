package schedule

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

type memory map[string]homecare.Date

func (m memory) LastRun(_ context.Context, job string) (homecare.Date, bool, error) {
	d, ok := m[job]
	return d, ok, nil
}

func (m memory) RecordRun(_ context.Context, job string, day homecare.Date, _ string) error {
	m[job] = day
	return nil
}

func TestRunDueOncePerDayAndCatchUp(t *testing.T) {
	now := time.Date(2026, 12, 4, 23, 30, 0, 0, time.UTC) // 00:30 on 5 December in Stockholm
	clock := func() time.Time { return now }
	type call struct{ day, last string }
	var calls []call
	fail := true
	mem := memory{}
	s := New(mem, clock, zap.NewNop(),
		Job{Name: "a", Run: func(_ context.Context, day, last homecare.Date) (string, error) {
			calls = append(calls, call{day.String(), last.String()})
			return "ok", nil
		}},
		Job{Name: "flaky", Run: func(context.Context, homecare.Date, homecare.Date) (string, error) {
			if fail {
				return "", errors.New("store down")
			}
			return "ok", nil
		}},
	)
	ctx := context.Background()
	if err := s.RunDue(ctx); err == nil {
		t.Error("RunDue with a failing job = nil, want its error")
	}
	if _, ok := mem["flaky"]; ok {
		t.Error("a failed job's day was recorded: it would not run again")
	}
	fail = false
	if err := s.RunDue(ctx); err != nil { // the same day: a runs no more, flaky catches up
		t.Fatal(err)
	}
	now = now.Add(10 * 24 * time.Hour) // ten days of downtime
	if err := s.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	want := []call{{"2026-12-05", "0000-00-00"}, {"2026-12-15", "2026-12-05"}}
	if len(calls) != len(want) || calls[0] != want[0] || calls[1] != want[1] {
		t.Errorf("job a ran %v, want %v (once per Stockholm day; one catch-up run knowing its last day)", calls, want)
	}
	if mem["flaky"] != (homecare.Date{Year: 2026, Month: 12, Day: 15}) {
		t.Errorf("flaky last ran for %s, want 2026-12-15", mem["flaky"])
	}
}

// TestNightlyAcrossDST: the spec runs once every night, also the nights the clocks change,
// where a job between 02:00 and 03:00 is skipped or run twice (STACK.md pitfall 9).
func TestNightlyAcrossDST(t *testing.T) {
	sched, err := cron.ParseStandard(Nightly)
	if err != nil {
		t.Fatal(err)
	}
	loc := homecare.Stockholm()
	for _, start := range []time.Time{
		time.Date(2026, 3, 27, 12, 0, 0, 0, loc),  // spring forward in the night to 29 March
		time.Date(2026, 10, 23, 12, 0, 0, 0, loc), // fall back in the night to 25 October
	} {
		at := start
		for i := range 4 {
			next := sched.Next(at)
			want := time.Date(start.Year(), start.Month(), start.Day()+1+i, 0, 5, 0, 0, loc)
			if !next.Equal(want) {
				t.Errorf("run %d after %s at %s, want %s", i+1, start, next, want)
			}
			at = next
		}
	}
}
