package lifecare_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

func TestEventID(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"default namespace", `<Avslut xmlns="urn:knutpunkt:lifecare:order:1" version="1.0"><handelseId>LC-1</handelseId></Avslut>`, "LC-1"},
		{"prefixed", `<o:Paus xmlns:o="urn:knutpunkt:lifecare:order:1"><o:handelseId>LC-2</o:handelseId></o:Paus>`, "LC-2"},
		{"other namespace", `<Avslut xmlns="urn:other"><handelseId>LC-3</handelseId></Avslut>`, ""},
		{"nested, not a child of the root", `<Avslut xmlns="urn:knutpunkt:lifecare:order:1"><x><handelseId>LC-4</handelseId></x></Avslut>`, ""},
		{"empty", `<Avslut xmlns="urn:knutpunkt:lifecare:order:1"><handelseId></handelseId></Avslut>`, ""},
		{"not XML", `{"handelseId":"LC-5"}`, ""},
		{"DOCTYPE refused", `<!DOCTYPE a [<!ENTITY e "LC-6">]><Avslut xmlns="urn:knutpunkt:lifecare:order:1"><handelseId>&e;</handelseId></Avslut>`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lifecare.EventID([]byte(tt.body)); got != tt.want {
				t.Errorf("EventID(%s) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

// collector is a DeliverFunc recording what the hub would get.
type collector struct {
	mu  sync.Mutex
	got []knutpunkt.Message
}

func (c *collector) deliver(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, m.Clone())
	return adapters.Receipt{ID: m.ID}, nil
}

func (c *collector) messages() []knutpunkt.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]knutpunkt.Message(nil), c.got...)
}

// receive opens a source from yml and runs it until the test ends.
func receive(t *testing.T, yml string, env adapters.Env) *collector {
	t.Helper()
	cfg, err := adapters.DecodeConfig(lifecare.SourceDef.Config, []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	src, err := lifecare.SourceDef.Open(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = src.Receive(ctx, c.deliver) }()
	t.Cleanup(func() { cancel(); <-done; _ = src.(*lifecare.Source).Close() })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestSourceHeaders pushes and drops real order messages from the
// simulator and checks the headers the hub gets.
func TestSourceHeaders(t *testing.T) {
	msg := lifecaresim.Orders(1, homecare.OfficialTestPersonIDs()[:1], []string{"omsorg-norr"}, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))[0]
	body, err := lifecaresim.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		push   http.Header // nil: drop as a file
		body   []byte
		config string
		want   map[string]string
	}{
		{
			name: "http push without external id takes handelseId",
			push: http.Header{"Content-Type": {"application/xml"}},
			body: body,
			want: map[string]string{"content-type": "application/xml", "source-system": "lifecare", "external-id": msg.EventID(), "lifecare-order-id": "BEST-2026-0001", "caller": "SE2321000016-ABCD"},
		},
		{
			name: "X-External-Id wins",
			push: http.Header{"Content-Type": {"text/xml; charset=utf-8"}, "X-External-Id": {"LC-OWN-1"}, "X-Source-System": {"evil"}},
			body: body,
			want: map[string]string{"content-type": "text/xml; charset=utf-8", "source-system": "lifecare", "external-id": "LC-OWN-1", "lifecare-order-id": "BEST-2026-0001", "caller": "SE2321000016-ABCD"},
		},
		{
			name: "http push of a non-order is delivered without external id",
			push: http.Header{"Content-Type": {"application/xml"}},
			body: []byte("<inte-en-order/>"),
			want: map[string]string{"content-type": "application/xml", "source-system": "lifecare", "caller": "SE2321000016-ABCD"},
		},
		{
			name: "file drop takes handelseId",
			body: body,
			want: map[string]string{"content-type": "application/xml", "source-system": "lifecare", "external-id": msg.EventID(), "lifecare-order-id": "BEST-2026-0001", "filename": "order.xml"},
		},
		{
			name:   "file drop with own source system",
			body:   body,
			config: "source_system: lifecare-demokommun\n",
			want:   map[string]string{"content-type": "application/xml", "source-system": "lifecare-demokommun", "external-id": msg.EventID(), "lifecare-order-id": "BEST-2026-0001", "filename": "order.xml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *collector
			if tt.push != nil {
				in := adapterstest.NewIngress(t, "SE2321000016-ABCD")
				c = receive(t, "transport: http\npath: orders\n"+tt.config, adapters.Env{Ingress: in})
				cs := newCaseSystem(t, lifecaresim.Options{AcceptAny: true})
				if err := cs.Push(t.Context(), in.URL("orders"), tt.body, tt.push); err != nil {
					t.Fatalf("Push: %v", err)
				}
			} else {
				d := newDropDir(t, false)
				c = receive(t, d.config()+"poll_interval: 20ms\nsettle_time: 0s\n"+tt.config, adapters.Env{})
				if err := lifecaresim.Drop(d.dir, "order.xml", tt.body); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the delivery", func() bool { return len(c.messages()) == 1 })
			got := c.messages()[0]
			if diff := cmp.Diff(tt.want, got.Headers); diff != "" {
				t.Errorf("headers mismatch (-want +got):\n%s", diff)
			}
			if string(got.Body) != string(tt.body) {
				t.Errorf("body changed:\n%s", got.Body)
			}
		})
	}
}
