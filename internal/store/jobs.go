package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// reportDomain binds a sealed report body to its row.
const reportDomain = "knutpunkt/report/v1\x00"

// JobRun is the last run of a scheduled job.
type JobRun struct {
	Job     string
	LastDay homecare.Date // the day it last ran for
	RanAt   time.Time
	Detail  string
}

// LastJobRun returns job's last run; ok is false when it never ran.
func (s *Store) LastJobRun(ctx context.Context, job string) (run JobRun, ok bool, err error) {
	var r struct {
		Job     string    `db:"job"`
		LastDay dateValue `db:"last_day"`
		RanAt   nullTime  `db:"ran_at"`
		Detail  string    `db:"detail"`
	}
	err = s.get(ctx, &r, `SELECT job, last_day, ran_at, detail FROM job_runs WHERE job = ?`, job)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, ErrNotFound) {
		return JobRun{}, false, nil
	}
	if err != nil {
		return JobRun{}, false, fmt.Errorf("job run %s: %w", job, err)
	}
	run = JobRun{Job: r.Job, RanAt: r.RanAt.Time, Detail: r.Detail}
	if run.LastDay, err = optDate(r.LastDay); err != nil {
		return JobRun{}, false, fmt.Errorf("job run %s: %w", job, err)
	}
	return run, true, nil
}

// RecordJobRun records that job ran for day, atomically with what the job wrote in t.
func (t *Tx) RecordJobRun(ctx context.Context, job string, day homecare.Date, detail string) error {
	at := t.s.tv(t.s.clock()) // the hub's clock: jobs compare it with queued_at, which is by it too
	_, err := t.exec(ctx, `INSERT INTO job_runs (job, last_day, ran_at, detail) VALUES (?, ?, ?, ?)
		ON CONFLICT (job) DO UPDATE SET last_day = excluded.last_day, ran_at = excluded.ran_at, detail = excluded.detail`,
		job, day.String(), at, detail)
	if err != nil {
		return fmt.Errorf("record job run %s: %w", job, err)
	}
	return nil
}

// Report is a report a job produced: its CSV, decrypted.
type Report struct {
	Kind      string // ivo, statistics
	Period    string // 2026Q4, 2026-11
	AsOf      homecare.Date
	Rows      int
	CreatedAt time.Time
	Body      []byte
}

// SaveReport stores a report, replacing an earlier one of the same kind and period (a
// quarter reported again after late events). The body is sealed: it names clients.
func (t *Tx) SaveReport(ctx context.Context, r Report) error {
	if t.s.pid == nil {
		return ErrNoPersonIDKeys
	}
	id := r.Kind + "/" + r.Period
	_, err := t.exec(ctx, `INSERT INTO reports (id, kind, period, as_of, rows, created_at, body_enc) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, period) DO UPDATE SET as_of = excluded.as_of, rows = excluded.rows,
		created_at = excluded.created_at, body_enc = excluded.body_enc`,
		id, r.Kind, r.Period, r.AsOf.String(), r.Rows, t.s.tv(now()), t.s.pid.seal(r.Body, reportDomain+id))
	if err != nil {
		return fmt.Errorf("save report %s: %w", id, err)
	}
	return nil
}

// Report returns the stored report of kind for period; ErrNotFound if there is none.
func (s *Store) Report(ctx context.Context, kind, period string) (Report, error) {
	if s.pid == nil {
		return Report{}, ErrNoPersonIDKeys
	}
	var r struct {
		ID        string    `db:"id"`
		AsOf      dateValue `db:"as_of"`
		Rows      int       `db:"rows"`
		CreatedAt nullTime  `db:"created_at"`
		BodyEnc   []byte    `db:"body_enc"`
	}
	err := s.get(ctx, &r, `SELECT id, as_of, rows, created_at, body_enc FROM reports WHERE kind = ? AND period = ?`, kind, period)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, ErrNotFound) {
		return Report{}, fmt.Errorf("report %s %s: %w", kind, period, ErrNotFound)
	}
	if err != nil {
		return Report{}, fmt.Errorf("report %s %s: %w", kind, period, err)
	}
	body, err := s.pid.open(r.BodyEnc, reportDomain+r.ID)
	if err != nil {
		return Report{}, fmt.Errorf("report %s %s: %w", kind, period, err)
	}
	asOf, err := optDate(r.AsOf)
	if err != nil {
		return Report{}, err
	}
	return Report{Kind: kind, Period: period, AsOf: asOf, Rows: r.Rows, CreatedAt: r.CreatedAt.Time, Body: body}, nil
}

// RecordJobRun is Tx.RecordJobRun in a transaction of its own.
func (s *Store) RecordJobRun(ctx context.Context, job string, day homecare.Date, detail string) error {
	return s.write(ctx, func(tx *Tx) error { return tx.RecordJobRun(ctx, job, day, detail) })
}

// SaveReport is Tx.SaveReport in a transaction of its own.
func (s *Store) SaveReport(ctx context.Context, r Report) error {
	return s.write(ctx, func(tx *Tx) error { return tx.SaveReport(ctx, r) })
}

// ApplyDue is Tx.ApplyDue in a transaction of its own.
func (s *Store) ApplyDue(ctx context.Context, every bool) (due []DueEvent, err error) {
	err = s.write(ctx, func(tx *Tx) error { due, err = tx.ApplyDue(ctx, every); return err })
	return due, err
}

// Inferred is an execution InferExecutions inferred from visits.
type Inferred struct {
	Order homecare.Order      // after the execution
	Event homecare.OrderEvent // the executed event, by homecare.ByVisits
	// EarlyVisits counts the visits registered for the client under the order's provider
	// between the decision date and the day the order came into force: flagged, not
	// counted as execution.
	EarlyVisits int
}

// InferExecutions marks executed, on the first visit's date, every order of the case
// systems sources that is not executed (sent, acknowledged) although staff registered
// visits for its client under its provider on or after the day it came into force. Each
// becomes an executed event by homecare.ByVisits, stored like a provider's report (its
// event id, "inferred-execution/<order>", makes a second run a duplicate).
func (s *Store) InferExecutions(ctx context.Context, sources []string) ([]Inferred, error) {
	var out []Inferred
	err := s.write(ctx, func(tx *Tx) error {
		out = out[:0]
		for _, src := range sources {
			var rows []struct {
				External   string    `db:"external_id"`
				Provider   string    `db:"provider_ref"`
				FirstVisit dateValue `db:"first_visit"`
				Early      int       `db:"early"`
			}
			if err := tx.sel(ctx, &rows, `SELECT o.external_id, o.provider_ref,
				(SELECT MIN(v.local_date) FROM visits v WHERE v.client_id = o.client_id
				  AND v.provider_ref = o.provider_ref AND v.local_date >= o.valid_from) AS first_visit,
				(SELECT COUNT(*) FROM visits v WHERE v.client_id = o.client_id AND v.provider_ref = o.provider_ref
				  AND v.local_date < o.valid_from AND v.local_date >= o.decided_on) AS early
				FROM orders o WHERE o.source_system = ? AND o.executed_on IS NULL
				AND (o.status = 'sent' OR o.status = 'acknowledged') ORDER BY o.id`, src); err != nil {
				return fmt.Errorf("infer executions: %w", err)
			}
			for _, r := range rows {
				if r.FirstVisit == "" {
					continue
				}
				d, err := optDate(r.FirstVisit)
				if err != nil {
					return fmt.Errorf("infer executions: %w", err)
				}
				ev := homecare.OrderEvent{SourceSystem: src, EventID: "inferred-execution/" + r.External,
					Type: homecare.OrderExecuted, OccurredAt: s.clock().UTC(), By: homecare.ByVisits,
					Order: homecare.OrderSnapshot{ExternalID: r.External, ProviderID: r.Provider}, ExecutedDate: d}
				res, err := tx.ApplyOrderEvent(ctx, ev, "")
				if err != nil {
					return err
				}
				if !res.Duplicate {
					out = append(out, Inferred{Order: res.Order, Event: ev, EarlyVisits: r.Early})
				}
			}
		}
		return nil
	})
	return out, err
}
