// Package schedule runs the hub's nightly jobs (robfig/cron, in knut serve): applying order
// events on the day they take effect, inferring execution from visits, writing the IVO
// and statistics reports when a quarter or month has ended, reconciling executed hours and
// sending each provider's payment basis of the month before (internal/server/jobs.go).
//
// Each job runs for a day, the Europe/Stockholm date of the injected clock, at most once
// per day, and the store remembers the last day it ran for (job_runs), so a hub that was
// down over midnight catches up when it starts (CatchUp) and one that restarts at noon does
// not run a job twice. Jobs are written to be idempotent over a range of days: the orders
// job applies everything due by today, the report jobs write every period that ended since
// they last ran, so one catch-up run covers a week of downtime.
//
// The nightly spec is 00:05 Europe/Stockholm: after local midnight, so a day's events are
// due, and outside 02:00-03:00, where robfig/cron skips or doubles a run on the nights
// daylight saving time changes (STACK.md pitfall 9).
package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Nightly is the cron spec the jobs run on, in Europe/Stockholm.
const Nightly = "5 0 * * *"

// Job is one scheduled job.
type Job struct {
	Name string
	// Run does the job for day (and every day since it last ran; last is the zero Date
	// when it never ran) and says what it did in a line for the log and job_runs.
	Run func(ctx context.Context, day, last homecare.Date) (detail string, err error)
}

// Memory is where the scheduler keeps the last day each job ran for: the store.
type Memory interface {
	LastRun(ctx context.Context, job string) (homecare.Date, bool, error)
	RecordRun(ctx context.Context, job string, day homecare.Date, detail string) error
}

// Scheduler runs jobs nightly and on start.
type Scheduler struct {
	jobs  []Job
	mem   Memory
	clock func() time.Time
	log   *zap.Logger

	mu   sync.Mutex // one run of the jobs at a time
	cron *cron.Cron
}

// New returns a scheduler for jobs; clock is time.Now when nil.
func New(mem Memory, clock func() time.Time, log *zap.Logger, jobs ...Job) *Scheduler {
	if clock == nil {
		clock = time.Now
	}
	return &Scheduler{jobs: jobs, mem: mem, clock: clock, log: log}
}

// RunDue runs, in order, every job that has not run for today yet. A job's error is logged
// and returned (joined) and does not stop the jobs after it; the job runs again at the next
// RunDue, since its day was not recorded.
func (s *Scheduler) RunDue(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	today := homecare.LocalDate(s.clock())
	var errs []error
	for _, j := range s.jobs {
		last, ok, err := s.mem.LastRun(ctx, j.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", j.Name, err))
			continue
		}
		if ok && !last.Before(today) {
			continue
		}
		detail, err := j.Run(ctx, today, last)
		if err != nil {
			s.log.Error("scheduled job failed", zap.String("job", j.Name), zap.Stringer("day", today), zap.Error(err))
			errs = append(errs, fmt.Errorf("job %s: %w", j.Name, err))
			continue
		}
		if err := s.mem.RecordRun(ctx, j.Name, today, detail); err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", j.Name, err))
			continue
		}
		s.log.Info("scheduled job ran", zap.String("job", j.Name), zap.Stringer("day", today), zap.String("detail", detail))
	}
	return errors.Join(errs...)
}

// Start catches up on what the hub missed while it was down, then runs the jobs nightly
// until Stop.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.RunDue(ctx); err != nil {
		s.log.Warn("catching up on scheduled jobs", zap.Error(err))
	}
	s.cron = cron.New(cron.WithLocation(homecare.Stockholm()))
	if _, err := s.cron.AddFunc(Nightly, func() {
		if err := s.RunDue(ctx); err != nil {
			s.log.Warn("nightly jobs", zap.Error(err))
		}
	}); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	s.cron.Start()
	return nil
}

// Stop stops the nightly runs and waits for one in progress.
func (s *Scheduler) Stop() {
	if s.cron != nil {
		<-s.cron.Stop().Done()
	}
}
