package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// What the reconciliation of executed hours (internal/reconcile) reads and writes: the
// inputs of each local day (visits, with their staff and insatser, and the lock events
// around them), the orders by client, and the runs with their lines. Nothing here holds
// personal data: clients are the store's keys.

// ReconcileVisit is what reconciliation reads of a stored visit.
type ReconcileVisit struct {
	ID             string
	Ref            string // "source_system/external_id"
	ClientKey      string
	ProviderID     string
	Status         homecare.VisitStatus
	StartAt, EndAt time.Time
	LocalDate      homecare.Date
	StartMethod    homecare.RegistrationMethod
	EndMethod      homecare.RegistrationMethod
	StartTagUID    string
	EndTagUID      string
	OutsideHome    bool
	IsExtra        bool
	// SourceVersion is the source's version of the record: above 1, a supervisor's
	// correction, which approves what the rules otherwise hold back.
	SourceVersion int
	Flags         []homecare.VisitFlag
	// SharedRef is the linked cohabitant's visit ("source_system/external_id"), or "".
	SharedRef string
	// ReceivedAt is when the hub stored this version of the record.
	ReceivedAt time.Time
	Staff      []homecare.VisitStaff
	Insatser   []homecare.VisitInsats
}

// ReconcileLockEvent is one lock event at a client's door.
type ReconcileLockEvent struct {
	ClientKey string
	Holder    string
	Action    string
	Result    string
	At        time.Time
}

// ReconcileInput is one local day's inputs: the visits that count for it (local_date)
// and the lock events from window before the first start to window after the last end.
type ReconcileInput struct {
	Date       homecare.Date
	Visits     []ReconcileVisit
	LockEvents []ReconcileLockEvent
	// Watermark is the latest time the hub stored one of the visits.
	Watermark time.Time
}

const (
	qReconcileVisits = `SELECT v.id, v.source_system, v.external_id, v.client_id, v.provider_ref, v.status,
		v.start_at, v.end_at, v.start_method, v.end_method, v.start_tag_uid, v.end_tag_uid, v.outside_home,
		v.is_extra, v.source_version, v.flags, v.shared_visit_ref, v.updated_at
		FROM visits v WHERE v.local_date = ?`
	// No ORDER BY: the rows are put in order in Go (by visit and position, by time), which
	// costs less than the database's sort of a city's day.
	qReconcileStaff = `SELECT s.visit_id, s.position, s.hsa_id, s.staff_ref, s.role FROM visit_staff s
		JOIN visits v ON v.id = s.visit_id WHERE v.local_date = ?`
	qReconcileInsatser = `SELECT i.visit_id, i.position, i.code, i.minutes, i.declined, i.double_staffed FROM visit_insatser i
		JOIN visits v ON v.id = i.visit_id WHERE v.local_date = ?`
	// lock_events_occurred covers it: no row of the table is read.
	qReconcileLockEvents = `SELECT occurred_at, client_id, holder, action, result FROM lock_events
		WHERE occurred_at >= ? AND occurred_at <= ? AND client_id IS NOT NULL`
)

// ReadAhead is how many days ReadReconcileInputs reads beside the one fn has: each on
// a read connection of its own, so reading overlaps with reconciling.
const ReadAhead = 1

// ReadReconcileInputs calls fn with each local day's inputs from from to to, in order.
// A few days are in memory at a time (ReadAhead), so a month at city scale is read in
// bounded memory. fn must not keep the input after it returns.
func (s *Store) ReadReconcileInputs(ctx context.Context, from, to homecare.Date, window time.Duration,
	fn func(*ReconcileInput) error) error {
	var days []homecare.Date
	for d := from; !to.Before(d); d = d.AddDays(1) {
		days = append(days, d)
	}
	type result struct {
		in  *ReconcileInput
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan result, len(days))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	slots := make(chan struct{}, ReadAhead+1) // the day fn has, and those read ahead
	go func() {
		for i, d := range days {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				in, err := s.reconcileInput(ctx, d, window)
				if err != nil {
					err = fmt.Errorf("reconcile inputs of %s: %w", d, err)
				}
				results[i] <- result{in, err}
			}()
		}
	}()
	for i := range days {
		var r result
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		err := fn(r.in)
		<-slots
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) reconcileInput(ctx context.Context, d homecare.Date, window time.Duration) (*ReconcileInput, error) {
	in := &ReconcileInput{Date: d}
	day := d.String()
	// A city's day names the same clients, providers, staff and codes over and over: one
	// copy of each keeps a day's inputs a third of the size.
	names := map[string]string{}
	intern := func(v string) string {
		if w, ok := names[v]; ok {
			return w
		}
		names[v] = v
		return v
	}
	err := s.scanRows(ctx, qReconcileVisits, []any{day}, func(rows *sql.Rows) error {
		var v ReconcileVisit
		var src, ext, status, sm, em, flags string
		var start, end, updated nullTime
		if err := rows.Scan(&v.ID, &src, &ext, &v.ClientKey, &v.ProviderID, &status, &start, &end, &sm, &em,
			&v.StartTagUID, &v.EndTagUID, &v.OutsideHome, &v.IsExtra, &v.SourceVersion, &flags, &v.SharedRef, &updated); err != nil {
			return err
		}
		v.Ref, v.Status, v.StartAt, v.EndAt = src+"/"+ext, homecare.VisitStatus(intern(status)), start.Time, end.Time
		v.StartMethod, v.EndMethod, v.LocalDate = homecare.RegistrationMethod(intern(sm)), homecare.RegistrationMethod(intern(em)), d
		v.ClientKey, v.ProviderID = intern(v.ClientKey), intern(v.ProviderID)
		v.Flags, v.ReceivedAt = splitFlags(flags), updated.Time
		if v.SharedRef != "" && !strings.Contains(v.SharedRef, "/") {
			v.SharedRef = src + "/" + v.SharedRef // the source's id of the other visit
		}
		if v.ReceivedAt.After(in.Watermark) {
			in.Watermark = v.ReceivedAt
		}
		in.Visits = append(in.Visits, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("visits: %w", err)
	}
	if len(in.Visits) == 0 {
		return in, nil
	}
	// By id, as the engine reads them.
	slices.SortFunc(in.Visits, func(a, b ReconcileVisit) int { return strings.Compare(a.ID, b.ID) })
	idx := make(map[string]int, len(in.Visits))
	for i := range in.Visits {
		idx[in.Visits[i].ID] = i
	}
	// A visit's staff and insatser in their positions' order.
	type row[T any] struct {
		visit, pos int
		v          T
	}
	byPosition := func(a, b int, pa, pb int) int { return cmp.Or(cmp.Compare(a, b), cmp.Compare(pa, pb)) }
	var staff []row[homecare.VisitStaff]
	err = s.scanRows(ctx, qReconcileStaff, []any{day}, func(rows *sql.Rows) error {
		var id, hsa, ref, role string
		var p int
		if err := rows.Scan(&id, &p, &hsa, &ref, &role); err != nil {
			return err
		}
		if i, ok := idx[id]; ok {
			staff = append(staff, row[homecare.VisitStaff]{i, p, homecare.VisitStaff{HSAID: homecare.HSAID(intern(hsa)), StaffRef: intern(ref),
				Role: homecare.StaffRole(intern(role))}})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("visit staff: %w", err)
	}
	slices.SortFunc(staff, func(a, b row[homecare.VisitStaff]) int { return byPosition(a.visit, b.visit, a.pos, b.pos) })
	for _, r := range staff {
		in.Visits[r.visit].Staff = append(in.Visits[r.visit].Staff, r.v)
	}
	var insatser []row[homecare.VisitInsats]
	err = s.scanRows(ctx, qReconcileInsatser, []any{day}, func(rows *sql.Rows) error {
		var id string
		var p int
		var in1 homecare.VisitInsats
		var minutes sql.NullInt64
		if err := rows.Scan(&id, &p, &in1.Code, &minutes, &in1.Declined, &in1.DoubleStaffed); err != nil {
			return err
		}
		if minutes.Valid {
			m := int(minutes.Int64)
			in1.Minutes = &m
		}
		in1.Code = intern(in1.Code)
		if i, ok := idx[id]; ok {
			insatser = append(insatser, row[homecare.VisitInsats]{i, p, in1})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("visit insatser: %w", err)
	}
	slices.SortFunc(insatser, func(a, b row[homecare.VisitInsats]) int { return byPosition(a.visit, b.visit, a.pos, b.pos) })
	for _, r := range insatser {
		in.Visits[r.visit].Insatser = append(in.Visits[r.visit].Insatser, r.v)
	}
	first, last := in.Visits[0].StartAt, in.Visits[0].EndAt
	for _, v := range in.Visits {
		first, last = minTime(first, v.StartAt), maxTime(last, v.EndAt)
	}
	// A visit may run long past midnight; its end is looked for up to a day after the day.
	last = minTime(last, d.AddDays(2).In(homecare.Stockholm()))
	err = s.scanRows(ctx, qReconcileLockEvents, []any{s.tv(first.Add(-window)), s.tv(last.Add(window))}, func(rows *sql.Rows) error {
		var e ReconcileLockEvent
		var at nullTime
		if err := rows.Scan(&at, &e.ClientKey, &e.Holder, &e.Action, &e.Result); err != nil {
			return err
		}
		e.At = at.Time
		e.ClientKey, e.Holder, e.Action, e.Result = intern(e.ClientKey), intern(e.Holder), intern(e.Action), intern(e.Result)
		in.LockEvents = append(in.LockEvents, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock events: %w", err)
	}
	// By time, then by what they say: the same order from either database.
	slices.SortFunc(in.LockEvents, func(a, b ReconcileLockEvent) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.ClientKey, b.ClientKey), strings.Compare(a.Holder, b.Holder),
			strings.Compare(a.Action, b.Action), strings.Compare(a.Result, b.Result))
	})
	return in, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// scanRows runs query on the read pool and calls scan for each row: plain Scan, not
// sqlx's reflection, since a month at city scale is millions of rows.
func (s *Store) scanRows(ctx context.Context, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := s.rdb.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ClientOrder is one order's timeline with the client and provider it is for.
type ClientOrder struct {
	ClientKey  string
	ProviderID string
	Ref        string // "source_system/external_id"
	Timeline   homecare.Timeline
}

// ClientOrders returns every order's timeline, with its client's store key, without the
// client's identity and the planning notes (reconciliation needs neither).
func (s *Store) ClientOrders(ctx context.Context) ([]ClientOrder, error) {
	var rows []struct {
		ID       string `db:"id"`
		ClientID string `db:"client_id"`
		Provider string `db:"provider_ref"`
		Source   string `db:"source_system"`
		External string `db:"external_id"`
	}
	if err := s.sel(ctx, &rows, `SELECT id, client_id, provider_ref, source_system, external_id FROM orders`); err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	byID := make(map[string]int, len(rows))
	for i, r := range rows {
		byID[r.ID] = i
	}
	recs, err := s.orderEvents(ctx, s, qOrderEvents+` ORDER BY order_id, order_version`)
	if err != nil {
		return nil, fmt.Errorf("order timelines: %w", err)
	}
	var out []ClientOrder
	for i := 0; i < len(recs); {
		j := i
		for j < len(recs) && recs[j].OrderID == recs[i].OrderID {
			j++
		}
		if k, ok := byID[recs[i].OrderID.String()]; ok {
			r := rows[k]
			evs := eventsOf(recs[i:j])
			for e := range evs {
				// Reconciliation reads no personal data, and a city's month folds each
				// timeline every day: the client and the planning notes are left out.
				o := &evs[e].Order
				o.Client, o.OrderText, o.RiskNotes, o.CaseOfficer, o.Key, o.CohabitantOrderIDs = nil, "", "", nil, nil, nil
			}
			out = append(out, ClientOrder{ClientKey: r.ClientID, ProviderID: r.Provider, Ref: r.Source + "/" + r.External,
				Timeline: homecare.NewTimeline(evs)})
		}
		i = j
	}
	return out, nil
}

// StartReconcileRun records a run as started, giving it its id and place in order.
func (s *Store) StartReconcileRun(ctx context.Context, run *homecare.ReconciliationRun) error {
	run.ID = newID()
	if run.StartedAt.IsZero() {
		run.StartedAt = s.clock()
	}
	return s.write(ctx, func(tx *Tx) error {
		var seq int64
		if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM reconcile_runs`, nil, &seq); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO reconcile_runs (id, seq, period_from, period_to, ruleset_name, ruleset_hash,
			trigger_kind, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, run.ID, seq, run.From.String(), run.To.String(),
			run.RuleSetName, run.RuleSetHash, run.Trigger, s.tv(run.StartedAt))
		if err != nil {
			return fmt.Errorf("start reconcile run: %w", err)
		}
		return nil
	})
}

const lineCols = `run_id, kind, client_id, provider_ref, category, local_date, order_ref, codes, granted_s,
	registered_s, verified_s, payable_s, schablon_s, declined_s, double_staff_s, manual_s, deviation_s,
	deviation_pct, unit_price_ore, amount_ore, visits, visit_refs, status, explanation`

const lineColCount = 24

// lineBatch is how many lines one INSERT writes.
const lineBatch = 200

// AddReconcileLines writes lines of run id, in one transaction, many to a statement.
func (s *Store) AddReconcileLines(ctx context.Context, runID string, lines []homecare.ReconciliationLine) error {
	if len(lines) == 0 {
		return nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", lineColCount), ", ") + ")"
	return s.write(ctx, func(tx *Tx) error {
		for len(lines) > 0 {
			n := min(len(lines), lineBatch)
			q := `INSERT INTO reconcile_lines (` + lineCols + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
			args := make([]any, 0, n*lineColCount)
			for i := range lines[:n] {
				l := &lines[i]
				status := make([]string, len(l.Status))
				for j, c := range l.Status {
					status[j] = string(c)
				}
				args = append(args, runID, string(l.Kind), l.ClientKey, l.ProviderID, l.Category, l.LocalDate.String(),
					l.OrderRef, strings.Join(l.Codes, ","), l.Granted, l.Registered, l.Verified, l.Payable, l.Schablon,
					l.Declined, l.DoubleStaff, l.Manual, l.Deviation, l.DeviationPct, l.UnitPrice, l.Amount, l.Visits,
					strings.Join(l.VisitRefs, ","), strings.Join(status, ","), l.Explanation)
			}
			if _, err := tx.exec(ctx, q, args...); err != nil {
				return fmt.Errorf("reconcile lines: %w", err)
			}
			lines = lines[n:]
		}
		return nil
	})
}

// FinishReconcileRun records run as finished, and every earlier finished run whose days
// it holds all of as superseded by it (kept, for audit).
func (s *Store) FinishReconcileRun(ctx context.Context, run *homecare.ReconciliationRun) error {
	if run.FinishedAt.IsZero() {
		run.FinishedAt = s.clock()
	}
	return s.write(ctx, func(tx *Tx) error {
		var wm any
		if !run.Watermark.IsZero() {
			wm = s.tv(run.Watermark)
		}
		if _, err := tx.exec(ctx, `UPDATE reconcile_runs SET finished_at = ?, watermark = ?, lines = ?, summary = ? WHERE id = ?`,
			s.tv(run.FinishedAt), wm, run.Lines, run.Summary, run.ID); err != nil {
			return fmt.Errorf("finish reconcile run: %w", err)
		}
		if _, err := tx.exec(ctx, `UPDATE reconcile_runs SET superseded_by = ? WHERE id <> ? AND superseded_by IS NULL
			AND finished_at IS NOT NULL AND period_from >= ? AND period_to <= ?`,
			run.ID, run.ID, run.From.String(), run.To.String()); err != nil {
			return fmt.Errorf("supersede reconcile runs: %w", err)
		}
		return nil
	})
}

type runRow struct {
	ID           string         `db:"id"`
	Seq          int64          `db:"seq"`
	From         dateValue      `db:"period_from"`
	To           dateValue      `db:"period_to"`
	Name         string         `db:"ruleset_name"`
	Hash         string         `db:"ruleset_hash"`
	Trigger      string         `db:"trigger_kind"`
	StartedAt    nullTime       `db:"started_at"`
	FinishedAt   nullTime       `db:"finished_at"`
	Watermark    nullTime       `db:"watermark"`
	SupersededBy sql.NullString `db:"superseded_by"`
	Lines        int            `db:"lines"`
	Summary      string         `db:"summary"`
}

func (r runRow) run() (homecare.ReconciliationRun, error) {
	from, err1 := homecare.ParseDate(dateString(r.From))
	to, err2 := homecare.ParseDate(dateString(r.To))
	if err := errors.Join(err1, err2); err != nil {
		return homecare.ReconciliationRun{}, fmt.Errorf("reconcile run %s: %w", r.ID, err)
	}
	return homecare.ReconciliationRun{ID: r.ID, From: from, To: to, RuleSetName: r.Name, RuleSetHash: r.Hash,
		Trigger: r.Trigger, StartedAt: r.StartedAt.Time, FinishedAt: r.FinishedAt.Time, Watermark: r.Watermark.Time,
		SupersededBy: r.SupersededBy.String, Lines: r.Lines, Summary: r.Summary}, nil
}

const qRuns = `SELECT id, seq, period_from, period_to, ruleset_name, ruleset_hash, trigger_kind, started_at,
	finished_at, watermark, superseded_by, lines, summary FROM reconcile_runs`

// ReconcileRuns returns the runs whose days meet from..to (every run when both are zero),
// latest first, finished or not.
func (s *Store) ReconcileRuns(ctx context.Context, from, to homecare.Date) ([]homecare.ReconciliationRun, error) {
	var rows []runRow
	var err error
	if from.IsZero() && to.IsZero() {
		err = s.sel(ctx, &rows, qRuns+` ORDER BY seq DESC`)
	} else {
		err = s.sel(ctx, &rows, qRuns+` WHERE period_from <= ? AND period_to >= ? ORDER BY seq DESC`, to.String(), from.String())
	}
	if err != nil {
		return nil, fmt.Errorf("reconcile runs: %w", err)
	}
	out := make([]homecare.ReconciliationRun, 0, len(rows))
	for _, r := range rows {
		run, err := r.run()
		if err != nil {
			return nil, err
		}
		out = append(out, run)
	}
	return out, nil
}

// CurrentReconcileLines calls fn with the current day line of every client, provider
// and category on each day from..to (the line of the latest finished run that covers
// the day), by day, and returns the runs they came from, latest first. Days no run
// covers have no lines.
func (s *Store) CurrentReconcileLines(ctx context.Context, from, to homecare.Date,
	fn func(*homecare.ReconciliationLine) error) ([]homecare.ReconciliationRun, error) {
	runs, err := s.ReconcileRuns(ctx, from, to)
	if err != nil {
		return nil, err
	}
	runs = slices.DeleteFunc(runs, func(r homecare.ReconciliationRun) bool { return r.FinishedAt.IsZero() })
	var used []homecare.ReconciliationRun
	for d := from; !to.Before(d); {
		i := slices.IndexFunc(runs, func(r homecare.ReconciliationRun) bool { return !d.Before(r.From) && !r.To.Before(d) })
		if i < 0 {
			d = d.AddDays(1)
			continue
		}
		// The days from d that run i is the latest for.
		end := d
		for e := d.AddDays(1); !to.Before(e); e = e.AddDays(1) {
			j := slices.IndexFunc(runs, func(r homecare.ReconciliationRun) bool { return !e.Before(r.From) && !r.To.Before(e) })
			if j != i {
				break
			}
			end = e
		}
		if !slices.ContainsFunc(used, func(r homecare.ReconciliationRun) bool { return r.ID == runs[i].ID }) {
			used = append(used, runs[i])
		}
		if err := s.runLines(ctx, runs[i].ID, homecare.LineDay, d, end, fn); err != nil {
			return nil, err
		}
		d = end.AddDays(1)
	}
	return used, nil
}

// RunLines calls fn with the lines of kind of run id, by day, client, provider and category.
func (s *Store) RunLines(ctx context.Context, id string, kind homecare.LineKind, fn func(*homecare.ReconciliationLine) error) error {
	return s.runLines(ctx, id, kind, homecare.Date{Year: 1, Month: 1, Day: 1}, homecare.Date{Year: 9999, Month: 12, Day: 31}, fn)
}

func (s *Store) runLines(ctx context.Context, id string, kind homecare.LineKind, from, to homecare.Date,
	fn func(*homecare.ReconciliationLine) error) error {
	q := `SELECT ` + strings.TrimPrefix(lineCols, "run_id, ") + ` FROM reconcile_lines
		WHERE run_id = ? AND kind = ? AND local_date >= ? AND local_date <= ?
		ORDER BY local_date, client_id, provider_ref, category`
	return s.scanRows(ctx, q, []any{id, string(kind), from.String(), to.String()}, func(rows *sql.Rows) error {
		var l homecare.ReconciliationLine
		var kindS, day, codes, refs, status string
		var date dateValue
		if err := rows.Scan(&kindS, &l.ClientKey, &l.ProviderID, &l.Category, &date, &l.OrderRef, &codes, &l.Granted,
			&l.Registered, &l.Verified, &l.Payable, &l.Schablon, &l.Declined, &l.DoubleStaff, &l.Manual, &l.Deviation,
			&l.DeviationPct, &l.UnitPrice, &l.Amount, &l.Visits, &refs, &status, &l.Explanation); err != nil {
			return err
		}
		day = dateString(date)
		d, err := homecare.ParseDate(day)
		if err != nil {
			return fmt.Errorf("reconcile line: local_date: %w", err)
		}
		l.Kind, l.LocalDate = homecare.LineKind(kindS), d
		l.Codes, l.VisitRefs = splitList(codes), splitList(refs)
		for _, c := range splitList(status) {
			l.Status = append(l.Status, homecare.StatusCode(c))
		}
		return fn(&l)
	})
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// ClientKey is the store's key of the client with person id pid: what reconciliation
// lines name the client by.
func (s *Store) ClientKey(pid homecare.PersonID) (string, error) {
	_, id, _, err := s.personKey(pid.Reveal())
	return id, err
}
