package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// OrderResult tells what ApplyOrderEvent did.
type OrderResult struct {
	// Order is the order after the event; on a duplicate, the order as stored.
	Order homecare.Order
	// Duplicate is true when the event (same source system and event id) was applied before:
	// nothing was written.
	Duplicate bool
	// Stale is true for a change that occurred before the change in force: it is recorded
	// and changes nothing, and nobody is to hear of it.
	Stale bool
	// Effective is the day the event takes effect; after today (Store.Today) it is stored
	// and the nightly job folds it in on its day.
	Effective homecare.Date
}

// OrderFilter selects orders for ListOrders. Zero fields match all.
type OrderFilter struct {
	// Provider is the provider id the orders carry.
	Provider string
	Status   homecare.OrderStatus
	// Limit caps the result; 0 means 100, and at most 1000 are returned.
	Limit int
}

// OrderEventRecord is one stored order event.
type OrderEventRecord struct {
	ID      string
	OrderID uuid.UUID
	// Event is the canonical event as applied, decrypted.
	Event homecare.OrderEvent
	// OrderVersion is the order's version after the event; StatusAfter its status.
	OrderVersion int
	StatusAfter  homecare.OrderStatus
	ReceivedAt   time.Time
	// MessageID is the message-log message the event came in, if any.
	MessageID string
}

// Additional data that binds an encrypted blob to its row and purpose.
var (
	orderPersonalDomain = "knutpunkt/order-personal/v1\x00"
	orderEventDomain    = "knutpunkt/order-event/v1\x00"
)

// seal encrypts pt with the person id encryption key in the person id format (version byte,
// nonce, AES-256-GCM ciphertext), with ad as additional data.
func (c *personIDCodec) seal(pt []byte, ad string) []byte {
	ns := c.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(pt)+c.aead.Overhead())
	out[0] = personIDEncVersion
	rand.Read(out[1 : 1+ns])
	return c.aead.Seal(out, out[1:1+ns], pt, []byte(ad))
}

// open decrypts what seal made with the same ad.
func (c *personIDCodec) open(enc []byte, ad string) ([]byte, error) {
	ns := c.aead.NonceSize()
	if len(enc) < 1+ns || enc[0] != personIDEncVersion {
		return nil, errors.New("decrypt: unknown format")
	}
	pt, err := c.aead.Open(nil, enc[1:1+ns], enc[1+ns:], []byte(ad))
	if err != nil {
		return nil, errors.New("decrypt: wrong key or tampered row")
	}
	return pt, nil
}

// orderPersonal is what orders.personal_enc holds: the order's free text and the client's
// details other than the person id (which is the clients row's).
type orderPersonal struct {
	GivenName    string                  `json:"given_name,omitempty"`
	FamilyName   string                  `json:"family_name,omitempty"`
	Address      homecare.Address        `json:"address,omitzero"`
	Phone        string                  `json:"phone,omitempty"`
	Contacts     []homecare.OrderContact `json:"contacts,omitempty"`
	OrderText    string                  `json:"order_text,omitempty"`
	RejectReason string                  `json:"reject_reason,omitempty"`
	// Since the order timeline (migration 00006): what a provider plans by, the
	// interruption history (a pause's reason is health information), who reported
	// the execution, and the content's time.
	Planning      homecare.Planning       `json:"planning,omitzero"`
	Interruptions []homecare.Interruption `json:"interruptions,omitempty"`
	ExecutedBy    string                  `json:"executed_by,omitempty"`
	ContentAt     time.Time               `json:"content_at,omitzero"`
	Previous      homecare.PersonID       `json:"previous_person_id,omitzero"`
}

const orderCols = `o.id, o.source_system, o.external_id, o.decision_external_id, o.decided_on, o.client_id,
	c.person_id_hash, c.person_id_enc, c.person_id_type, o.provider_ref, o.status, o.ordered_at,
	o.acknowledged_at, o.executed_on, o.paused_from, o.paused_to, o.pause_reason, o.pause_planned,
	o.ended_on, o.end_reason, o.valid_from, o.valid_to, o.protected_identity, o.personal_enc,
	o.insatser_version, o.last_event_at, o.version`

const orderSelect = `SELECT ` + orderCols + ` FROM orders o JOIN clients c ON c.id = o.client_id`

type orderRow struct {
	ID                 string    `db:"id"`
	SourceSystem       string    `db:"source_system"`
	ExternalID         string    `db:"external_id"`
	DecisionExternalID string    `db:"decision_external_id"`
	DecidedOn          dateValue `db:"decided_on"`
	ClientID           string    `db:"client_id"`
	PersonIDHash       []byte    `db:"person_id_hash"`
	PersonIDEnc        []byte    `db:"person_id_enc"`
	PersonIDType       string    `db:"person_id_type"`
	ProviderRef        string    `db:"provider_ref"`
	Status             string    `db:"status"`
	OrderedAt          nullTime  `db:"ordered_at"`
	AcknowledgedAt     nullTime  `db:"acknowledged_at"`
	ExecutedOn         dateValue `db:"executed_on"`
	PausedFrom         dateValue `db:"paused_from"`
	PausedTo           dateValue `db:"paused_to"`
	PauseReason        string    `db:"pause_reason"`
	PausePlanned       bool      `db:"pause_planned"`
	EndedOn            dateValue `db:"ended_on"`
	EndReason          string    `db:"end_reason"`
	ValidFrom          dateValue `db:"valid_from"`
	ValidTo            dateValue `db:"valid_to"`
	ProtectedIdentity  bool      `db:"protected_identity"`
	PersonalEnc        []byte    `db:"personal_enc"`
	InsatserVersion    int       `db:"insatser_version"`
	LastEventAt        nullTime  `db:"last_event_at"`
	Version            int       `db:"version"`
}

type orderInsatsRow struct {
	OrderID        string    `db:"order_id"`
	Code           string    `db:"code"`
	Text           string    `db:"text"`
	GrantedMinutes int       `db:"granted_minutes"`
	Period         string    `db:"period"`
	TimesPerPeriod *int      `db:"times_per_period"`
	ValidFrom      dateValue `db:"valid_from"`
	ValidTo        dateValue `db:"valid_to"`
}

// optDate parses a stored date; "" (NULL) is the zero Date.
func optDate(v dateValue) (homecare.Date, error) {
	if v == "" {
		return homecare.Date{}, nil
	}
	return homecare.ParseDate(string(v))
}

// nullDate is a date parameter: the zero Date is NULL.
func nullDate(d homecare.Date) any {
	if d.IsZero() {
		return nil
	}
	return d.String()
}

// order turns a row into an Order with its client decrypted; insatser are loaded apart.
func (s *Store) order(r orderRow) (homecare.Order, error) {
	digits, err := s.pid.decrypt(r.PersonIDEnc, r.PersonIDHash)
	if err != nil {
		return homecare.Order{}, err
	}
	pid, err := homecare.ParsePlausiblePersonID(digits) // checked when it came in
	if err != nil {
		return homecare.Order{}, fmt.Errorf("stored %w", err)
	}
	pt, err := s.pid.open(r.PersonalEnc, orderPersonalDomain+r.ID)
	if err != nil {
		return homecare.Order{}, fmt.Errorf("personal data: %w", err)
	}
	var p orderPersonal
	if err := json.Unmarshal(pt, &p); err != nil {
		return homecare.Order{}, fmt.Errorf("personal data: %w", err)
	}
	o := homecare.Order{
		SourceSystem: r.SourceSystem, ExternalID: r.ExternalID, DecisionID: r.DecisionExternalID,
		ProviderID: r.ProviderRef, OrderText: p.OrderText, RejectReason: p.RejectReason,
		Client: homecare.OrderClient{PersonID: pid, PersonIDType: homecare.PersonIDType(r.PersonIDType),
			ProtectedIdentity: r.ProtectedIdentity, GivenName: p.GivenName, FamilyName: p.FamilyName,
			Address: p.Address, Phone: p.Phone, Contacts: p.Contacts, PreviousPersonID: p.Previous},
		Planning: p.Planning, Interruptions: p.Interruptions, ExecutedBy: p.ExecutedBy, ContentAt: p.ContentAt,
		Status: homecare.OrderStatus(r.Status), OrderedAt: r.OrderedAt.Time, AcknowledgedAt: r.AcknowledgedAt.Time,
		EndReason: homecare.EndReason(r.EndReason), LastEventAt: r.LastEventAt.Time, Version: r.Version,
	}
	if o.ID, err = uuid.Parse(r.ID); err != nil {
		return homecare.Order{}, err
	}
	for _, d := range []struct {
		name string
		v    dateValue
		dst  *homecare.Date
	}{
		{"decided_on", r.DecidedOn, &o.DecidedAt}, {"executed_on", r.ExecutedOn, &o.ExecutedAt},
		{"ended_on", r.EndedOn, &o.EndedAt}, {"valid_from", r.ValidFrom, &o.ValidFrom}, {"valid_to", r.ValidTo, &o.ValidTo},
	} {
		if *d.dst, err = optDate(d.v); err != nil {
			return homecare.Order{}, fmt.Errorf("%s: %w", d.name, err)
		}
	}
	if r.PausedFrom != "" {
		p := &homecare.OrderPause{Reason: homecare.PauseReason(r.PauseReason), Planned: r.PausePlanned}
		if p.From, err = optDate(r.PausedFrom); err != nil {
			return homecare.Order{}, fmt.Errorf("paused_from: %w", err)
		}
		if p.To, err = optDate(r.PausedTo); err != nil {
			return homecare.Order{}, fmt.Errorf("paused_to: %w", err)
		}
		o.Pause = p
	}
	return o, nil
}

// loadOrders runs an orderSelect query on q and loads the orders' current insatser.
func (s *Store) loadOrders(ctx context.Context, q reader, query string, args ...any) ([]homecare.Order, error) {
	if s.pid == nil {
		return nil, ErrNoPersonIDKeys
	}
	var rows []orderRow
	if err := q.sel(ctx, &rows, query, args...); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	out := make([]homecare.Order, len(rows))
	idx := make(map[string]int, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		o, err := s.order(r)
		if err != nil {
			return nil, fmt.Errorf("order %s/%s: %w", r.SourceSystem, r.ExternalID, err)
		}
		out[i], idx[r.ID], ids[i] = o, i, r.ID
	}
	var ins []orderInsatsRow
	var err error
	if len(ids) == 1 {
		// The common case, an event's order, is one query the statement
		// caches keep.
		err = q.sel(ctx, &ins, qOrderInsatser+` = ? ORDER BY i.position`, ids[0])
	} else {
		var iq string
		var iargs []any
		if iq, iargs, err = sqlx.In(qOrderInsatser+` IN (?) ORDER BY i.order_id, i.position`, ids); err != nil {
			return nil, err
		}
		if s.dialect == DialectPostgres {
			iq = sqlx.Rebind(sqlx.DOLLAR, iq) // not s.q: IN lists of every length would fill its cache
		}
		err = sqlx.SelectContext(ctx, q.queryer(), &ins, iq, iargs...)
	}
	if err != nil {
		return nil, fmt.Errorf("order insatser: %w", err)
	}
	for _, r := range ins {
		in := homecare.OrderInsats{Code: r.Code, Text: r.Text, GrantedMinutes: r.GrantedMinutes, Period: homecare.Period(r.Period)}
		if r.TimesPerPeriod != nil {
			in.TimesPerPeriod = *r.TimesPerPeriod
		}
		if in.ValidFrom, err = optDate(r.ValidFrom); err != nil {
			return nil, fmt.Errorf("order insatser: valid_from: %w", err)
		}
		if in.ValidTo, err = optDate(r.ValidTo); err != nil {
			return nil, fmt.Errorf("order insatser: valid_to: %w", err)
		}
		o := &out[idx[r.OrderID]]
		o.Insatser = append(o.Insatser, in)
	}
	return out, nil
}

const qOrderInsatser = `SELECT i.order_id, i.code, i.text, i.granted_minutes, i.period, i.times_per_period,
	i.valid_from, i.valid_to FROM order_insatser i JOIN orders o ON o.id = i.order_id AND i.version = o.insatser_version
	WHERE i.order_id`

const qInsertOrder = `INSERT INTO orders (id, source_system, external_id, decision_external_id, decided_on, client_id,
	provider_ref, status, ordered_at, acknowledged_at, executed_on, paused_from, paused_to, pause_reason, pause_planned,
	ended_on, end_reason, valid_from, valid_to, protected_identity, personal_enc, insatser_version, last_event_at,
	version, next_effective_on, created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (source_system, external_id) DO NOTHING`

// qUpdateOrder writes the state after an event; the version check makes a lost update an
// error rather than a silent overwrite.
const qUpdateOrder = `UPDATE orders SET decision_external_id = ?, decided_on = ?, client_id = ?, provider_ref = ?,
	status = ?, acknowledged_at = ?, executed_on = ?, paused_from = ?, paused_to = ?, pause_reason = ?,
	pause_planned = ?, ended_on = ?, end_reason = ?, valid_from = ?, valid_to = ?, protected_identity = ?,
	personal_enc = ?, insatser_version = ?, last_event_at = ?, version = ?, next_effective_on = ?, updated_at = ?
	WHERE id = ? AND version = ?`

const qInsertOrderInsats = `INSERT INTO order_insatser (order_id, version, position, code, text, granted_minutes,
	period, times_per_period, valid_from, valid_to) VALUES `

const qInsertOrderEvent = `INSERT INTO order_events (id, order_id, source_system, event_id, type, occurred_at,
	received_at, order_version, status_after, message_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (source_system, event_id) DO NOTHING`

const qProtectClient = `UPDATE clients SET protected_identity = ?, updated_at = ?, version = version + 1
	WHERE id = ? AND protected_identity <> ?`

// MaxClockSkew is how far ahead of the hub's clock an order event may say it occurred.
const MaxClockSkew = 24 * time.Hour

// ApplyOrderEvent adds ev to the timeline of the order it names, (ev.SourceSystem,
// ev.Order.ExternalID), and stores the event and the order as it stands today (by the
// store's clock, in Europe/Stockholm), atomically with whatever else tx writes.
//
// The order is read locked (SELECT … FOR UPDATE on PostgreSQL; SQLite has a single writer)
// with its events, ev is added to its homecare.Timeline (which checks that every event
// still applies in the order they take effect), and the fold as of today is written back
// with its version checked. An event dated ahead is stored now and takes effect on its day
// (ApplyDue); orders.next_effective_on says when. An event whose (source system, event id)
// was applied before is recognised after the lock is taken, so also between racing
// transactions, and returns Duplicate with nothing written. The client is found, or
// created, by the person id lookup hash as for visits; its protected identity flag follows
// the case system's. Errors from the timeline are returned wrapped, so
// errors.Is(err, homecare.ErrUnknownOrder) and errors.As(err, **homecare.TransitionError)
// work; nothing is written then.
//
// messageID is the message-log message the event came in ("" for none); it must exist.
func (t *Tx) ApplyOrderEvent(ctx context.Context, ev homecare.OrderEvent, messageID string) (OrderResult, error) {
	wrap := func(err error) (OrderResult, error) {
		return OrderResult{}, fmt.Errorf("apply order event %s/%s: %w", ev.SourceSystem, ev.EventID, err)
	}
	if t.s.pid == nil {
		return wrap(ErrNoPersonIDKeys)
	}
	if ev.SourceSystem == "" || ev.EventID == "" || ev.Order.ExternalID == "" {
		return wrap(errors.New("source system, event id and order external id are required"))
	}
	if limit := t.s.clock().Add(MaxClockSkew); ev.OccurredAt.After(limit) {
		// A case system's clock far ahead would make its change the one in force for
		// good: every later, real change would be older, and stale.
		return wrap(&homecare.TransitionError{OrderID: ev.Order.ExternalID, Event: ev.Type,
			Reason: fmt.Sprintf("occurred_at %s is more than %s ahead of the hub's clock", ev.OccurredAt.UTC().Format(time.RFC3339), MaxClockSkew)})
	}
	ctx = t.ctx(ctx)
	// More than one attempt: on PostgreSQL, a concurrent transaction may create the same
	// order after it was read (the insert then does nothing, or the event is already
	// there); the next attempt finds the order committed and locks it.
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := t.lockOrder(ctx, ev.SourceSystem, ev.Order.ExternalID)
		if err != nil {
			return wrap(err)
		}

		var dupOrder string
		err = t.queryRow(ctx, `SELECT order_id FROM order_events WHERE source_system = ? AND event_id = ?`,
			[]any{ev.SourceSystem, ev.EventID}, &dupOrder)
		switch {
		case err == nil && cur.IsZero():
			continue // the order and event committed after the order was read: read it again
		case err == nil:
			if cur.ID.String() != dupOrder {
				return wrap(errors.New("event id already used for another order"))
			}
			return OrderResult{Order: cur, Duplicate: true}, nil
		case !errors.Is(err, sql.ErrNoRows):
			return wrap(err)
		}

		var tl homecare.Timeline
		if !cur.IsZero() {
			if tl, err = t.s.timeline(ctx, t, cur.ID); err != nil {
				return wrap(err)
			}
		}
		tl, added, err := tl.Add(ev)
		if err != nil {
			return wrap(err)
		}
		next := t.s.project(tl, cur)
		ok, err := t.writeOrder(ctx, cur, &next, tl.NextEffective(t.s.Today()))
		if err != nil {
			return wrap(err)
		}
		if !ok {
			continue // lost a race to create the order; read it again
		}
		if err := t.insertOrderEvent(ctx, next, ev, messageID); err != nil {
			return wrap(err)
		}
		return OrderResult{Order: next, Stale: added.Stale, Effective: added.Effective}, nil
	}
	return wrap(errors.New("order created concurrently and not found"))
}

// lockOrder reads the order with the given source key, locked for the transaction; the
// zero Order when there is none.
func (t *Tx) lockOrder(ctx context.Context, sourceSystem, externalID string) (homecare.Order, error) {
	lock := ""
	if t.s.dialect == DialectPostgres {
		lock = " FOR UPDATE OF o"
	}
	found, err := t.s.loadOrders(ctx, t, orderSelect+` WHERE o.source_system = ? AND o.external_id = ?`+lock,
		sourceSystem, externalID)
	if err != nil || len(found) == 0 {
		return homecare.Order{}, err
	}
	return found[0], nil
}

// project is the order of tl as it stands today, to be stored over cur: its id, and its
// version counting the events stored. An order whose created event is dated after today
// (a case system's clock ahead) stands as created.
func (s *Store) project(tl homecare.Timeline, cur homecare.Order) homecare.Order {
	today := s.Today()
	next := tl.At(today)
	if next.IsZero() {
		next = tl.At(tl.Events()[0].EffectiveDate())
	}
	next.ID, next.Version = cur.ID, cur.Version+1
	return next
}

// DueEvent is an event that took effect on the day ApplyDue ran for.
type DueEvent struct {
	Order homecare.Order // the order as it stands after it
	Event homecare.OrderEvent
}

// ApplyDue folds into the stored orders the events that have taken effect by today (the
// store's clock) since they were stored: an Avslut on the day after the order's last day, a
// Paus on its first day, an execution on its date. It returns those events, each with its
// order as it stands now, in the order they took effect; an order is written once.
//
// With every set, it folds every order again (the first run after an upgrade to the
// timeline, whose orders have no next_effective_on yet) and reports only today's events.
func (t *Tx) ApplyDue(ctx context.Context, every bool) ([]DueEvent, error) {
	ctx = t.ctx(ctx)
	today := t.s.Today()
	var rows []struct {
		ID   string    `db:"id"`
		Next dateValue `db:"next_effective_on"`
	}
	var err error
	if every {
		err = t.sel(ctx, &rows, `SELECT id, NULL AS next_effective_on FROM orders ORDER BY id`)
	} else {
		err = t.sel(ctx, &rows, `SELECT id, next_effective_on FROM orders
			WHERE next_effective_on IS NOT NULL AND next_effective_on <= ? ORDER BY id`, today.String())
	}
	if err != nil {
		return nil, fmt.Errorf("apply due: %w", err)
	}
	var due []DueEvent
	for _, r := range rows {
		id := r.ID
		// Events from the first day pending up to today take effect now; those
		// before it were in force already.
		from, err := optDate(r.Next)
		if err != nil {
			return nil, fmt.Errorf("apply due: %w", err)
		}
		if from.IsZero() {
			from = today // every order folded again: report today's events only
		}
		lock := ""
		if t.s.dialect == DialectPostgres {
			lock = " FOR UPDATE OF o"
		}
		found, err := t.s.loadOrders(ctx, t, orderSelect+` WHERE o.id = ?`+lock, id)
		if err != nil {
			return nil, fmt.Errorf("apply due: %w", err)
		}
		if len(found) == 0 {
			continue
		}
		cur := found[0]
		tl, err := t.s.timeline(ctx, t, cur.ID)
		if err != nil {
			return nil, fmt.Errorf("apply due: order %s/%s: %w", cur.SourceSystem, cur.ExternalID, err)
		}
		next := t.s.project(tl, cur)
		next.Version = cur.Version // no event is added
		if _, err := t.writeOrder(ctx, cur, &next, tl.NextEffective(today)); err != nil {
			return nil, fmt.Errorf("apply due: order %s/%s: %w", cur.SourceSystem, cur.ExternalID, err)
		}
		for _, e := range tl.Events() {
			if d := e.EffectiveDate(); !today.Before(d) && !d.Before(from) {
				due = append(due, DueEvent{Order: next, Event: e})
			}
		}
	}
	slices.SortStableFunc(due, func(a, b DueEvent) int { return a.Event.EffectiveDate().Compare(b.Event.EffectiveDate()) })
	return due, nil
}

// writeOrder inserts next (when cur is zero) or updates cur to next, with the client row and
// insatser; nextEffective is the first day an event stored for it takes effect after today.
// It reports false when the insert found the order already there.
func (t *Tx) writeOrder(ctx context.Context, cur homecare.Order, next *homecare.Order, nextEffective homecare.Date) (bool, error) {
	hash, clientID, enc, err := t.s.personKey(next.Client.PersonID.Reveal())
	if err != nil {
		return false, err
	}
	at := t.s.tv(now())
	pidType := next.Client.PersonIDType
	if pidType == "" {
		pidType = next.Client.PersonID.Type()
	}
	if !t.clients[clientID] {
		if _, err := t.exec(ctx, qEnsureClient, clientID, hash, enc, string(pidType), at, at); err != nil {
			return false, fmt.Errorf("client: %w", err)
		}
		t.markClient(clientID)
	}
	if p := next.Client.ProtectedIdentity; cur.IsZero() || p != cur.Client.ProtectedIdentity || cur.Client.PersonID != next.Client.PersonID {
		if _, err := t.exec(ctx, qProtectClient, p, at, clientID, p); err != nil {
			return false, fmt.Errorf("client: %w", err)
		}
	}

	if prev := next.Client.PreviousPersonID; !prev.IsZero() && (cur.IsZero() || cur.Client.PreviousPersonID != prev) {
		if err := t.LinkClient(ctx, next.Client.PersonID, prev); err != nil {
			return false, err
		}
	}
	id := next.ID
	if cur.IsZero() {
		id = uuid.Must(uuid.NewV7())
	}
	personal, err := json.Marshal(orderPersonal{GivenName: next.Client.GivenName, FamilyName: next.Client.FamilyName,
		Address: next.Client.Address, Phone: next.Client.Phone, Contacts: next.Client.Contacts,
		OrderText: next.OrderText, RejectReason: next.RejectReason, Planning: next.Planning,
		Interruptions: next.Interruptions, ExecutedBy: next.ExecutedBy, ContentAt: next.ContentAt,
		Previous: next.Client.PreviousPersonID})
	if err != nil {
		return false, err
	}
	personalEnc := t.s.pid.seal(personal, orderPersonalDomain+id.String())
	var pausedFrom, pausedTo any
	var pauseReason string
	var pausePlanned bool
	if p := next.Pause; p != nil {
		pausedFrom, pausedTo, pauseReason, pausePlanned = nullDate(p.From), nullDate(p.To), string(p.Reason), p.Planned
	}
	var ackAt any
	if !next.AcknowledgedAt.IsZero() {
		ackAt = t.s.tv(next.AcknowledgedAt)
	}
	// A new set of insatser when the order is new or the ones in force changed; else the
	// current set stays current.
	newInsatser := cur.IsZero() || !reflect.DeepEqual(cur.Insatser, next.Insatser)
	insVersion := next.Version
	if !newInsatser {
		if err := t.queryRow(ctx, `SELECT insatser_version FROM orders WHERE id = ?`, []any{id.String()}, &insVersion); err != nil {
			return false, fmt.Errorf("read insatser version: %w", err)
		}
	} else if !cur.IsZero() && next.Version == cur.Version {
		// ApplyDue adds no event, so the version does not name a new set: take the next free.
		if err := t.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM order_insatser WHERE order_id = ?`,
			[]any{id.String()}, &insVersion); err != nil {
			return false, fmt.Errorf("read insatser version: %w", err)
		}
	}

	if cur.IsZero() {
		res, err := t.exec(ctx, qInsertOrder, id.String(), next.SourceSystem, next.ExternalID, next.DecisionID,
			nullDate(next.DecidedAt), clientID, next.ProviderID, string(next.Status), t.s.tv(next.OrderedAt), ackAt,
			nullDate(next.ExecutedAt), pausedFrom, pausedTo, pauseReason, pausePlanned, nullDate(next.EndedAt),
			string(next.EndReason), nullDate(next.ValidFrom), nullDate(next.ValidTo), next.Client.ProtectedIdentity,
			personalEnc, insVersion, t.s.tv(next.LastEventAt), next.Version, nullDate(nextEffective), at, at)
		if err != nil {
			return false, fmt.Errorf("insert order: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return false, err
		} else if n == 0 {
			return false, nil
		}
		next.ID = id
	} else {
		res, err := t.exec(ctx, qUpdateOrder, next.DecisionID, nullDate(next.DecidedAt), clientID, next.ProviderID,
			string(next.Status), ackAt, nullDate(next.ExecutedAt), pausedFrom, pausedTo, pauseReason, pausePlanned,
			nullDate(next.EndedAt), string(next.EndReason), nullDate(next.ValidFrom), nullDate(next.ValidTo),
			next.Client.ProtectedIdentity, personalEnc, insVersion, t.s.tv(next.LastEventAt), next.Version,
			nullDate(nextEffective), at, id.String(), cur.Version)
		if err != nil {
			return false, fmt.Errorf("update order: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return false, err
		} else if n != 1 {
			return false, fmt.Errorf("update order: version %d changed underneath", cur.Version)
		}
	}

	if newInsatser && len(next.Insatser) > 0 {
		args := make([]any, 0, 10*len(next.Insatser))
		for i, in := range next.Insatser {
			var times any
			if in.TimesPerPeriod > 0 {
				times = in.TimesPerPeriod
			}
			args = append(args, id.String(), insVersion, i, in.Code, in.Text, in.GrantedMinutes, string(in.Period),
				times, nullDate(in.ValidFrom), nullDate(in.ValidTo))
		}
		if err := t.execRows(ctx, qInsertOrderInsats, args); err != nil {
			return false, fmt.Errorf("insert order insatser: %w", err)
		}
	}
	return true, nil
}

// insertOrderEvent appends ev, encrypted, to order_events.
func (t *Tx) insertOrderEvent(ctx context.Context, o homecare.Order, ev homecare.OrderEvent, messageID string) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	id := newID()
	var msg any
	if messageID != "" {
		msg = messageID
	}
	res, err := t.exec(ctx, qInsertOrderEvent, id, o.ID.String(), ev.SourceSystem, ev.EventID, string(ev.Type),
		t.s.tv(ev.OccurredAt), t.s.tv(now()), o.Version, string(o.Status), msg, t.s.pid.seal(payload, orderEventDomain+id))
	if err != nil {
		return fmt.Errorf("insert order event: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		// Cannot happen under the order's lock; refuse rather than commit a state without its event.
		return errors.New("insert order event: event id stored concurrently")
	}
	return nil
}

// ApplyOrderEvent is Tx.ApplyOrderEvent in a transaction of its own.
func (s *Store) ApplyOrderEvent(ctx context.Context, ev homecare.OrderEvent, messageID string) (r OrderResult, err error) {
	err = s.write(ctx, func(tx *Tx) error { r, err = tx.ApplyOrderEvent(ctx, ev, messageID); return err })
	return r, err
}

// Order returns the order with the given source key, with its client's person id and
// details decrypted; ErrNotFound if there is none.
func (s *Store) Order(ctx context.Context, sourceSystem, externalID string) (homecare.Order, error) {
	list, err := s.loadOrders(ctx, s, orderSelect+` WHERE o.source_system = ? AND o.external_id = ?`, sourceSystem, externalID)
	if err != nil {
		return homecare.Order{}, fmt.Errorf("get order %s/%s: %w", sourceSystem, externalID, err)
	}
	if len(list) == 0 {
		return homecare.Order{}, fmt.Errorf("get order %s/%s: %w", sourceSystem, externalID, ErrNotFound)
	}
	return list[0], nil
}

// OrderRef names an order and says whose it is.
type OrderRef struct {
	SourceSystem string `db:"source_system"`
	ExternalID   string `db:"external_id"`
	ProviderRef  string `db:"provider_ref"`
}

// OrdersByExternalID returns the orders with external id id, in every case
// system (usually one), with their providers.
func (s *Store) OrdersByExternalID(ctx context.Context, id string) ([]OrderRef, error) {
	var refs []OrderRef
	if err := s.sel(ctx, &refs, `SELECT source_system, external_id, provider_ref FROM orders WHERE external_id = ?`, id); err != nil {
		return nil, fmt.Errorf("orders %s: %w", id, err)
	}
	return refs, nil
}

// ListOrders returns orders matching f, oldest first.
func (s *Store) ListOrders(ctx context.Context, f OrderFilter) ([]homecare.Order, error) {
	var (
		where []string
		args  []any
	)
	if f.Provider != "" {
		where, args = append(where, "o.provider_ref = ?"), append(args, f.Provider)
	}
	if f.Status != "" {
		where, args = append(where, "o.status = ?"), append(args, string(f.Status))
	}
	q := orderSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY o.ordered_at, o.id LIMIT %d", limit(f.Limit))
	list, err := s.loadOrders(ctx, s, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return list, nil
}

// OrderEvents returns the events stored for the order with the given id, in the order they
// were stored, decrypted.
func (s *Store) OrderEvents(ctx context.Context, orderID uuid.UUID) ([]OrderEventRecord, error) {
	recs, err := s.orderEvents(ctx, s, qOrderEvents+` WHERE order_id = ? ORDER BY order_version`, orderID.String())
	if err != nil {
		return nil, fmt.Errorf("order events %s: %w", orderID, err)
	}
	return recs, nil
}

const qOrderEvents = `SELECT id, order_id, order_version, status_after, received_at, message_id, payload FROM order_events`

// orderEvents runs a qOrderEvents query on q and decrypts what it finds.
func (s *Store) orderEvents(ctx context.Context, q reader, query string, args ...any) ([]OrderEventRecord, error) {
	if s.pid == nil {
		return nil, ErrNoPersonIDKeys
	}
	var rows []struct {
		ID           string   `db:"id"`
		OrderID      string   `db:"order_id"`
		OrderVersion int      `db:"order_version"`
		StatusAfter  string   `db:"status_after"`
		ReceivedAt   nullTime `db:"received_at"`
		MessageID    *string  `db:"message_id"`
		Payload      []byte   `db:"payload"`
	}
	if err := q.sel(ctx, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]OrderEventRecord, len(rows))
	for i, r := range rows {
		pt, err := s.pid.open(r.Payload, orderEventDomain+r.ID)
		if err != nil {
			return nil, fmt.Errorf("order event %s: %w", r.ID, err)
		}
		orderID, err := uuid.Parse(r.OrderID)
		if err != nil {
			return nil, fmt.Errorf("order event %s: %w", r.ID, err)
		}
		rec := OrderEventRecord{ID: r.ID, OrderID: orderID, OrderVersion: r.OrderVersion,
			StatusAfter: homecare.OrderStatus(r.StatusAfter), ReceivedAt: r.ReceivedAt.Time}
		if r.MessageID != nil {
			rec.MessageID = *r.MessageID
		}
		if err := json.Unmarshal(pt, &rec.Event); err != nil {
			return nil, fmt.Errorf("order event %s: %w", r.ID, err)
		}
		out[i] = rec
	}
	return out, nil
}

// timeline returns the timeline of the order with the given id, read on q.
func (s *Store) timeline(ctx context.Context, q reader, orderID uuid.UUID) (homecare.Timeline, error) {
	recs, err := s.orderEvents(ctx, q, qOrderEvents+` WHERE order_id = ? ORDER BY order_version`, orderID.String())
	if err != nil {
		return homecare.Timeline{}, fmt.Errorf("order timeline %s: %w", orderID, err)
	}
	return homecare.NewTimeline(eventsOf(recs)), nil
}

func eventsOf(recs []OrderEventRecord) []homecare.OrderEvent {
	evs := make([]homecare.OrderEvent, len(recs))
	for i, r := range recs {
		evs[i] = r.Event
	}
	return evs
}

// OrderTimeline returns the timeline of the order with the given source key: its state as
// of any date (Timeline.At). ErrNotFound if there is none.
func (s *Store) OrderTimeline(ctx context.Context, sourceSystem, externalID string) (homecare.Timeline, error) {
	recs, err := s.orderEvents(ctx, s, qOrderEvents+` WHERE order_id = (SELECT id FROM orders
		WHERE source_system = ? AND external_id = ?) ORDER BY order_version`, sourceSystem, externalID)
	if err != nil {
		return homecare.Timeline{}, fmt.Errorf("order timeline %s/%s: %w", sourceSystem, externalID, err)
	}
	if len(recs) == 0 {
		return homecare.Timeline{}, fmt.Errorf("order timeline %s/%s: %w", sourceSystem, externalID, ErrNotFound)
	}
	return homecare.NewTimeline(eventsOf(recs)), nil
}

// Timelines returns the timeline of every order, in the order the orders were stored: what
// the reports fold to the dates they report on.
func (s *Store) Timelines(ctx context.Context) ([]homecare.Timeline, error) {
	recs, err := s.orderEvents(ctx, s, qOrderEvents+` ORDER BY order_id, order_version`)
	if err != nil {
		return nil, fmt.Errorf("order timelines: %w", err)
	}
	var out []homecare.Timeline
	for i := 0; i < len(recs); {
		j := i
		for j < len(recs) && recs[j].OrderID == recs[i].OrderID {
			j++
		}
		out = append(out, homecare.NewTimeline(eventsOf(recs[i:j])))
		i = j
	}
	return out, nil
}
