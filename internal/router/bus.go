package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-sqlite/wmsqlitezombiezen"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Bus is the message transport between the hub's handlers: a publisher and a
// subscriber per consumer group.
type Bus struct {
	publisher  message.Publisher
	subscriber func(group string) (message.Subscriber, error)
	closers    []func() error
}

// Close releases the bus.
func (b *Bus) Close() error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// NewMemoryBus returns an in-process, non-durable bus. Use it only in tests.
func NewMemoryBus() *Bus {
	gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024, Persistent: true}, watermill.NopLogger{})
	return &Bus{
		publisher:  gc,
		subscriber: func(string) (message.Subscriber, error) { return gc, nil },
		closers:    []func() error{gc.Close},
	}
}

// OpenSQLiteBus opens the embedded durable bus in the SQLite file at path
// (created if missing), beside the store. Messages survive restarts; each
// consumer group keeps its own offset.
//
// Messages are written by watermill-sqlite's publisher (one INSERT and one
// durable commit per message) into its tables, and read by sqliteSubscriber,
// which speaks the same protocol (topic table, offsets table, consumer-group
// row lock) but, unlike the library's subscriber, does not take a write
// transaction on every poll: it is woken at once by a publish in this
// process, checks for new messages with a read (WAL readers block no one)
// and writes only to lock, acknowledge and unlock a batch it found. The
// library's subscriber polled every 20 ms with two durable commits per poll
// per consumer group, about 1,400 commits a second with the hub idle, and
// under load the bus's write lock was the hub's bottleneck
// (BenchmarkOrderLatency).
func OpenSQLiteBus(path string) (*Bus, error) {
	conn, err := sqlite.OpenConn(path)
	if err != nil {
		return nil, fmt.Errorf("open bus %s: %w", path, err)
	}
	conn.SetBusyTimeout(10 * time.Second)
	if err := busPragmas(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("open bus %s: %w", path, err)
	}
	pub, err := wmsqlitezombiezen.NewPublisher(conn, wmsqlitezombiezen.PublisherOptions{InitializeSchema: true})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open bus publisher: %w", err)
	}
	w := &wakeups{subs: map[string]map[chan struct{}]struct{}{}}
	b := &Bus{publisher: &notifyingPublisher{Publisher: pub, wake: w}, closers: []func() error{pub.Close, conn.Close}}
	b.subscriber = func(group string) (message.Subscriber, error) {
		if err := validBusName(group); err != nil {
			return nil, fmt.Errorf("open bus subscriber %s: %w", group, err)
		}
		sub := &sqliteSubscriber{
			path:  path,
			group: group,
			wake:  w,
			// Only the fallback for messages published by another process
			// (a publish here wakes the subscriber at once); an idle poll
			// is a read.
			pollInterval: 100 * time.Millisecond,
			batchSize:    100,
			lockTimeout:  5, // seconds; extended while a message is handled
			closed:       make(chan struct{}),
		}
		b.closers = append([]func() error{sub.Close}, b.closers...)
		return sub, nil
	}
	return b, nil
}

// wakeups tells subscriptions of a topic that a message was published to it.
type wakeups struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func (w *wakeups) add(topic string) chan struct{} {
	c := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subs[topic] == nil {
		w.subs[topic] = map[chan struct{}]struct{}{}
	}
	w.subs[topic][c] = struct{}{}
	return c
}

func (w *wakeups) remove(topic string, c chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.subs[topic], c)
}

func (w *wakeups) notify(topic string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.subs[topic] {
		select {
		case c <- struct{}{}:
		default: // already due to look
		}
	}
}

// notifyingPublisher wakes the topic's subscriptions after each publish has
// committed.
type notifyingPublisher struct {
	message.Publisher
	wake *wakeups
}

func (p *notifyingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	p.wake.notify(topic)
	return nil
}

var busNamePattern = regexp.MustCompile(`^[A-Za-z0-9\-$:._]+$`)

// validBusName is watermill-sqlite's rule for topic and consumer group
// names, which end up in table names and SQL text.
func validBusName(s string) error {
	if !busNamePattern.MatchString(s) {
		return fmt.Errorf("invalid bus topic or consumer group name %q", s)
	}
	return nil
}

// sqliteSubscriber reads one consumer group from watermill-sqlite's tables
// (see OpenSQLiteBus). Delivery is at least once, as with the library: a
// batch's offset is committed after the batch, so a crash redelivers the
// batch's messages from the first unacknowledged one.
type sqliteSubscriber struct {
	path         string
	group        string
	wake         *wakeups
	pollInterval time.Duration
	batchSize    int
	lockTimeout  int // seconds

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// Subscribe implements message.Subscriber.
func (s *sqliteSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	select {
	case <-s.closed:
		return nil, errors.New("bus subscriber is closed")
	default:
	}
	if err := validBusName(topic); err != nil {
		return nil, err
	}
	conn, err := sqlite.OpenConn(s.path)
	if err != nil {
		return nil, fmt.Errorf("open bus %s: %w", s.path, err)
	}
	conn.SetBusyTimeout(10 * time.Second)
	if err := busPragmas(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("open bus %s: %w", s.path, err)
	}
	sub := &subscription{sqliteSubscriber: s, conn: conn, topic: topic,
		messages: "watermill_" + topic, offsets: "watermill_offsets_" + topic,
		out: make(chan *message.Message)}
	if err := sub.prepare(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("bus subscription %s on %s: %w", s.group, topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	conn.SetInterrupt(ctx.Done())
	wake := s.wake.add(topic)
	s.wg.Add(1)
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer close(sub.out)
		defer s.wake.remove(topic, wake)
		defer conn.Close()
		sub.run(ctx, wake)
	}()
	return sub.out, nil
}

// Close implements message.Subscriber: it ends every subscription and
// returns when they have ended.
func (s *sqliteSubscriber) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.wg.Wait()
	return nil
}

type subscription struct {
	*sqliteSubscriber
	conn              *sqlite.Conn
	topic             string
	messages, offsets string // table names
	out               chan *message.Message

	pending, lock, batch, ack, extend *sqlite.Stmt

	lockedOffset int64 // offset_acked as the lock found (or last wrote) it
	ackedOffset  int64 // last message acknowledged by the handler
}

func (s *subscription) prepare() (err error) {
	if err := sqlitex.ExecuteTransient(s.conn, `CREATE TABLE IF NOT EXISTS '`+s.messages+`' (
			'offset' INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
			uuid TEXT NOT NULL,
			created_at TEXT NOT NULL,
			payload BLOB,
			metadata JSON NOT NULL
		);`, nil); err != nil {
		return err
	}
	if err := sqlitex.ExecuteTransient(s.conn, `CREATE TABLE IF NOT EXISTS '`+s.offsets+`' (
			consumer_group TEXT NOT NULL,
			offset_acked INTEGER NOT NULL,
			locked_until INTEGER NOT NULL,
			PRIMARY KEY(consumer_group)
		);`, nil); err != nil {
		return err
	}
	if err := sqlitex.ExecuteTransient(s.conn, `INSERT INTO '`+s.offsets+`' (consumer_group, offset_acked, locked_until)
		VALUES (?, 0, 0) ON CONFLICT(consumer_group) DO NOTHING;`, &sqlitex.ExecOptions{Args: []any{s.group}}); err != nil {
		return err
	}
	for _, p := range []struct {
		stmt **sqlite.Stmt
		sql  string
	}{
		// A read: is there anything past the group's offset?
		{&s.pending, `SELECT EXISTS (SELECT 1 FROM '` + s.messages + `' WHERE "offset" > (SELECT offset_acked FROM '` + s.offsets + `' WHERE consumer_group = $group));`},
		{&s.lock, `UPDATE '` + s.offsets + `' SET locked_until = unixepoch() + $timeout WHERE consumer_group = $group AND locked_until < unixepoch() RETURNING offset_acked;`},
		{&s.batch, `SELECT "offset", uuid, payload, metadata FROM '` + s.messages + `' WHERE "offset" > $offset ORDER BY "offset" LIMIT ` + strconv.Itoa(s.batchSize) + `;`},
		// Acknowledge and keep (locked_until > 0) or release (0) the lock.
		{&s.ack, `UPDATE '` + s.offsets + `' SET offset_acked = $acked, locked_until = $until WHERE consumer_group = $group AND offset_acked = $locked;`},
		{&s.extend, `UPDATE '` + s.offsets + `' SET offset_acked = $acked, locked_until = unixepoch() + $timeout WHERE consumer_group = $group AND offset_acked = $locked;`},
	} {
		if *p.stmt, err = s.conn.Prepare(p.sql); err != nil {
			return err
		}
	}
	return nil
}

type busMessage struct {
	offset   int64
	uuid     string
	payload  []byte
	metadata message.Metadata
}

func (s *subscription) run(ctx context.Context, wake <-chan struct{}) {
	poll := time.NewTicker(s.pollInterval)
	defer poll.Stop()
	for {
		// Drain what there is, a batch at a time; a batch's acknowledgement
		// and the next batch's lock and read share one commit.
		batch, err := s.lockBatch()
		for err == nil && len(batch) > 0 {
			for _, m := range batch {
				if !s.send(ctx, m) {
					s.release()
					return
				}
			}
			batch, err = s.ackAndNext()
		}
		if err != nil && ctx.Err() == nil {
			s.release()
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// lockBatch locks the consumer group and reads the next batch, when the
// read-only check finds messages past the group's offset.
func (s *subscription) lockBatch() (batch []busMessage, err error) {
	if err := s.pending.Reset(); err != nil {
		return nil, err
	}
	s.pending.SetText("$group", s.group)
	found, err := stepInt(s.pending)
	if err != nil || found == 0 {
		return nil, err
	}
	end, err := sqlitex.ImmediateTransaction(s.conn)
	if err != nil {
		return nil, err
	}
	defer end(&err)
	if err = s.lock.Reset(); err != nil {
		return nil, err
	}
	s.lock.SetText("$group", s.group)
	s.lock.SetInt64("$timeout", int64(s.lockTimeout))
	ok, err := s.lock.Step()
	if err != nil || !ok {
		return nil, err // !ok: another subscriber of the group holds the lock
	}
	s.lockedOffset = s.lock.ColumnInt64(0)
	s.ackedOffset = s.lockedOffset
	if _, err = s.lock.Step(); err != nil {
		return nil, err
	}
	return s.readBatch()
}

// ackAndNext commits the batch's acknowledgement and reads the next
// batch, keeping the lock; with nothing more it releases the lock.
func (s *subscription) ackAndNext() (batch []busMessage, err error) {
	end, err := sqlitex.ImmediateTransaction(s.conn)
	if err != nil {
		return nil, err
	}
	defer end(&err)
	if err = s.ack.Reset(); err != nil {
		return nil, err
	}
	s.ack.SetInt64("$acked", s.ackedOffset)
	s.ack.SetInt64("$until", time.Now().Unix()+int64(s.lockTimeout))
	s.ack.SetText("$group", s.group)
	s.ack.SetInt64("$locked", s.lockedOffset)
	if _, err = s.ack.Step(); err != nil {
		return nil, err
	}
	if s.conn.Changes() == 0 {
		return nil, nil // the lock was lost to another subscriber
	}
	s.lockedOffset = s.ackedOffset
	if batch, err = s.readBatch(); err != nil || len(batch) > 0 {
		return batch, err
	}
	return nil, s.unlock()
}

// release acknowledges what was handled and unlocks, outside a batch.
func (s *subscription) release() {
	_ = s.unlock()
}

func (s *subscription) unlock() error {
	if err := s.ack.Reset(); err != nil {
		return err
	}
	s.ack.SetInt64("$acked", s.ackedOffset)
	s.ack.SetInt64("$until", 0)
	s.ack.SetText("$group", s.group)
	s.ack.SetInt64("$locked", s.lockedOffset)
	_, err := s.ack.Step()
	if err == nil {
		s.lockedOffset = s.ackedOffset
	}
	return err
}

func (s *subscription) readBatch() ([]busMessage, error) {
	if err := s.batch.Reset(); err != nil {
		return nil, err
	}
	s.batch.SetInt64("$offset", s.lockedOffset)
	var batch []busMessage
	for {
		ok, err := s.batch.Step()
		if err != nil {
			return nil, err
		}
		if !ok {
			return batch, nil
		}
		m := busMessage{offset: s.batch.ColumnInt64(0), uuid: s.batch.ColumnText(1)}
		m.payload = make([]byte, s.batch.ColumnLen(2))
		s.batch.ColumnBytes(2, m.payload)
		meta := make([]byte, s.batch.ColumnLen(3))
		s.batch.ColumnBytes(3, meta)
		if err := json.Unmarshal(meta, &m.metadata); err != nil {
			return nil, fmt.Errorf("bus message %d metadata: %w", m.offset, err)
		}
		batch = append(batch, m)
	}
}

// send hands m to the handler until it is acknowledged (a nack sends it
// again), extending the group's lock while the handler works. It returns
// false when the subscription ends first.
func (s *subscription) send(ctx context.Context, m busMessage) bool {
	extend := time.NewTicker(time.Duration(s.lockTimeout)*time.Second - 300*time.Millisecond)
	defer extend.Stop()
	for {
		msgCtx, cancel := context.WithCancel(ctx)
		wm := message.NewMessage(m.uuid, m.payload)
		wm.Metadata = maps.Clone(m.metadata)
		wm.SetContext(msgCtx)
	emit:
		select {
		case <-ctx.Done():
			cancel()
			return false
		case <-extend.C:
			s.extendLock()
			goto emit
		case s.out <- wm:
		}
	wait:
		select {
		case <-ctx.Done():
			cancel()
			return false
		case <-extend.C:
			s.extendLock()
			goto wait
		case <-wm.Acked():
			cancel()
			s.ackedOffset = m.offset
			return true
		case <-wm.Nacked():
			cancel()
		}
	}
}

func (s *subscription) extendLock() {
	if err := s.extend.Reset(); err != nil {
		return
	}
	s.extend.SetInt64("$acked", s.ackedOffset)
	s.extend.SetInt64("$timeout", int64(s.lockTimeout))
	s.extend.SetText("$group", s.group)
	s.extend.SetInt64("$locked", s.lockedOffset)
	if _, err := s.extend.Step(); err == nil && s.conn.Changes() > 0 {
		s.lockedOffset = s.ackedOffset
	}
}

// busPragmas sets synchronous=NORMAL on a bus connection (the bus is in WAL
// mode): a commit is not fsynced, the WAL is at each checkpoint. The bus
// stays consistent through a power loss but may lose its last commits;
// that is safe because the bus is not the hub's durability boundary: every
// message is first committed to the store's message log (synchronous=FULL)
// as received, and Router.Run republishes every message still received at
// start. A lost acknowledgement redelivers, as a crash mid-batch does.
func busPragmas(conn *sqlite.Conn) error {
	return sqlitex.ExecuteTransient(conn, "PRAGMA synchronous=NORMAL;", nil)
}

func stepInt(stmt *sqlite.Stmt) (int64, error) {
	ok, err := stmt.Step()
	if err != nil || !ok {
		return 0, err
	}
	v := stmt.ColumnInt64(0)
	_, err = stmt.Step()
	return v, err
}
