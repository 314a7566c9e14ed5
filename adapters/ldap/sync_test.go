package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/ldap"
	"github.com/knutpunkt/knutpunkt/adapters/ldap/ldaptest"
)

// Test personal data: Skatteverket test personnummer, test HSA-IDs.
var people = []ldaptest.Person{
	{UID: "b.berg", GivenName: "Britt", SN: "Berg", HSAIDs: []string{"SE2321000016-B002"}, PersonalID: "194001042383",
		Mail: "britt.berg@kommun.example", Title: "Undersköterska", OUs: []string{"Hemtjänst Norr"}, EmployeeNumber: "4712"},
	{UID: "a.oberg", GivenName: "Åsa", SN: "Öberg", HSAIDs: []string{"SE2321000016-A001", "SE2321000016-A00X"}, PersonalID: "198207062392",
		OUs: []string{"Hemtjänst Norr", "Nattpatrullen"}, EmployeeNumber: "4711", EndDate: "20261231000000Z"},
	{UID: "c.lind", GivenName: "Carl", SN: "Lind", EmployeeNumber: "4713"},
}

// stable are the attributes of the tests that compare bodies: the defaults
// without modifyTimestamp, which slapd sets to the time of the add.
const stable = "attributes: [hsaIdentity, personalIdentityNumber, givenName, sn, mail, title, ou, employeeNumber]\n"

func TestSnapshot(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{})
	s.Add(t, ldaptest.Entries(people...))
	src := newSource(t, s, stable+"page_size: 2\n")
	snap, err := src.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"dn":"uid=a.oberg,ou=people,dc=kommun,dc=se","attributes":{"hsaIdentity":["SE2321000016-A001","SE2321000016-A00X"],"personalIdentityNumber":["198207062392"],"givenName":["Åsa"],"sn":["Öberg"],"ou":["Hemtjänst Norr","Nattpatrullen"],"employeeNumber":["4711"],"hsaEndDate":["20261231000000Z"]}}
{"dn":"uid=b.berg,ou=people,dc=kommun,dc=se","attributes":{"hsaIdentity":["SE2321000016-B002"],"personalIdentityNumber":["194001042383"],"givenName":["Britt"],"sn":["Berg"],"mail":["britt.berg@kommun.example"],"title":["Undersköterska"],"ou":["Hemtjänst Norr"],"employeeNumber":["4712"]}}
{"dn":"uid=c.lind,ou=people,dc=kommun,dc=se","attributes":{"givenName":["Carl"],"sn":["Lind"],"employeeNumber":["4713"]}}
`
	if string(snap.Body) != want {
		t.Errorf("body:\n%s\nwant:\n%s", snap.Body, want)
	}
	if snap.Count != 3 {
		t.Errorf("count = %d, want 3", snap.Count)
	}
	// Another page size, another order of answers: the same bytes.
	again, err := newSource(t, s, stable+"page_size: 500\n").Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != snap.Digest {
		t.Error("the same directory gave another digest")
	}
}

// TestSnapshotErrors: whatever is not the whole answer is an error, and no
// error holds the password.
func TestSnapshotErrors(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{})
	s.Add(t, ldaptest.Entries(people...))
	limited := ldaptest.Start(t, ldaptest.Options{SizeLimit: 2})
	limited.Add(t, ldaptest.Entries(people...))
	referring := ldaptest.Start(t, ldaptest.Options{})
	referring.Add(t, ldaptest.Entries(people...)+"\ndn: ou=elsewhere,"+ldaptest.People+
		"\nobjectClass: referral\nobjectClass: extensibleObject\nou: elsewhere\nref: ldap://ldap.other.example/ou=people,dc=other,dc=example\n")
	cut := cutProxy(t, s.Addr, 600)
	tests := []struct {
		name      string
		srv       *ldaptest.Server
		url       string // instead of srv's
		extra     string
		wantErr   []string
		truncated bool
	}{
		{name: "wrong password", srv: s, extra: "password: env:WRONG\n", wantErr: []string{"bind", "Invalid Credentials"}},
		{name: "base DN not found", srv: s, extra: "base_dn: ou=nobody,dc=kommun,dc=se\n", wantErr: []string{"No Such Object"}},
		{name: "size limit exceeded", srv: limited, wantErr: []string{"Size Limit Exceeded"}, truncated: true},
		{name: "size limit exceeded, paged", srv: limited, extra: "page_size: 1\n", wantErr: []string{"Size Limit Exceeded"}, truncated: true},
		{name: "a referral", srv: referring, extra: "filter: (objectClass=*)\n", wantErr: []string{"referrals"}, truncated: true},
		{name: "connection dropped mid-search", srv: s, url: "ldap://" + cut, extra: "page_size: 1\n", truncated: true},
		{name: "server down", srv: s, url: "ldap://" + closedAddr(t), wantErr: []string{"connect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := string(config(tt.srv, tt.extra))
			if tt.url != "" {
				yml = strings.Replace(yml, tt.srv.URL, tt.url, 1)
			}
			cfg, err := adapters.DecodeConfig(ldap.NewSourceConfig, []byte(yml))
			if err != nil {
				t.Fatal(err)
			}
			src, err := ldap.NewSource(*cfg.(*ldap.SourceConfig), adapters.Env{Secrets: secrets()})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := src.Snapshot(t.Context())
			if err == nil {
				t.Fatalf("Snapshot = %d entries, want an error", snap.Count)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.truncated != errors.Is(err, ldap.ErrTruncated) {
				t.Errorf("errors.Is(%q, ErrTruncated) = %v, want %v", err, !tt.truncated, tt.truncated)
			}
			for _, secret := range secrets() {
				if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), secret) {
					t.Errorf("the error holds a password: %v", err)
				}
			}
			if personal(err.Error()) {
				t.Errorf("the error names an entry: %v", err)
			}
		})
	}
}

// TestTruncatedDeliversNothing: a sync that fails mid-search delivers no
// snapshot, logs once without personal data, and the next poll tries again.
func TestTruncatedDeliversNothing(t *testing.T) {
	limited := ldaptest.Start(t, ldaptest.Options{SizeLimit: 2})
	limited.Add(t, ldaptest.Entries(people...))
	core, logs := observer.New(zapcore.DebugLevel)
	cfg, err := adapters.DecodeConfig(ldap.NewSourceConfig, config(limited, "page_size: 1\npoll_interval: 10ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := ldap.NewSource(*cfg.(*ldap.SourceConfig), adapters.Env{Secrets: secrets(), Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	var delivered int
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- src.Receive(ctx, func(context.Context, knutpunkt.Message) (adapters.Receipt, error) {
			mu.Lock()
			defer mu.Unlock()
			delivered++
			return adapters.Receipt{}, nil
		})
	}()
	waitFor(t, "the source to try three times", func() bool {
		return logs.FilterMessage("directory sync failed again").Len() >= 2
	})
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if delivered != 0 {
		t.Errorf("%d snapshots delivered from a truncated answer, want none", delivered)
	}
	if n := logs.FilterMessage("directory sync failed, will retry at the next poll").Len(); n != 1 {
		t.Errorf("logged the failure %d times, want once per outage", n)
	}
	for _, e := range logs.All() {
		if text := fmt.Sprint(e.Message, e.ContextMap()); personal(text) {
			t.Errorf("a log line holds personal data: %s", text)
		}
	}
}

// personal reports whether text holds a test person's name, uid or
// personnummer.
func personal(text string) bool {
	for _, p := range people {
		for _, v := range []string{p.UID, p.PersonalID, p.SN, p.GivenName} {
			if v != "" && strings.Contains(text, v) {
				return true
			}
		}
	}
	return false
}

// TestEmptyDirectory: 0 entries is a snapshot, with snapshot-count 0.
func TestEmptyDirectory(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{})
	src := newSource(t, s, "poll_interval: 10ms\n")
	got := make(chan knutpunkt.Message, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- src.Receive(ctx, func(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
			select {
			case got <- m:
			default:
			}
			return adapters.Receipt{ID: "1"}, nil
		})
	}()
	var m knutpunkt.Message
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot within 10s")
	}
	cancel()
	<-done
	if len(m.Body) != 0 || m.Headers[ldap.HeaderSnapshotCount] != "0" || m.Headers[knutpunkt.HeaderSourceSystem] != "ldap-test" ||
		m.Headers[knutpunkt.HeaderContentType] != "application/x-ndjson" || !strings.HasPrefix(m.Headers[knutpunkt.HeaderExternalID], "ldap-") {
		t.Errorf("empty snapshot = %q %v", m.Body, m.Headers)
	}
}

// TestExternalIDs: a retried snapshot keeps its id, an unchanged directory
// is not delivered again, a directory back in an earlier state gets a new id.
func TestExternalIDs(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{})
	s.Add(t, ldaptest.Entries(people[0]))
	src := newSource(t, s, stable+"poll_interval: 10ms\n")
	type delivery struct {
		id, digest string
		failed     bool
	}
	var mu sync.Mutex
	var got []delivery
	step := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- src.Receive(ctx, func(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
			mu.Lock()
			defer mu.Unlock()
			d := delivery{id: m.Headers[knutpunkt.HeaderExternalID], digest: m.Headers[ldap.HeaderSnapshotDigest], failed: len(got) == 0}
			got = append(got, d)
			step <- struct{}{}
			if d.failed {
				return adapters.Receipt{}, errors.New("the hub is busy")
			}
			return adapters.Receipt{ID: d.id}, nil
		})
	}()
	wait := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-step:
			case <-time.After(10 * time.Second):
				t.Fatal("no delivery within 10s")
			}
		}
	}
	wait(2) // A fails, A again
	admin := s.Admin(t)
	s.Add(t, ldaptest.Entries(people[1]))
	wait(1) // A+B
	if err := admin.Del(goldapDel(people[1].DN())); err != nil {
		t.Fatal(err)
	}
	wait(1) // A again
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 {
		t.Fatalf("deliveries = %+v, want 4", got)
	}
	if got[0].id != got[1].id {
		t.Errorf("the retried snapshot has another external id: %+v", got[:2])
	}
	if got[3].digest != got[0].digest || got[3].id == got[0].id || got[2].id == got[0].id {
		t.Errorf("back to an earlier state: %+v, want its digest with a new external id", got)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling, not waiting for time to pass
	}
}

// closedAddr is a loopback address nobody listens on.
func closedAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// cutProxy forwards connections to target, and closes each after passing
// n bytes of the server's answers: a connection dropped mid-search.
func cutProxy(t testing.TB, target string, n int64) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.CopyN(c, u, n)
			}()
		}
	}()
	return l.Addr().String()
}
