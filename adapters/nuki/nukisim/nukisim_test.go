package nukisim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/nuki/nukisim"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func call(t *testing.T, sim *nukisim.Server, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, sim.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	return resp.StatusCode, raw
}

// TestQuirks walks the contract's quirks the adapter depends on, in order:
// each step's status is what the vendor answers.
func TestQuirks(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)}
	sim, err := nukisim.Start(nukisim.Options{Token: "tok", CreateDelay: 10 * time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sim.AddLock(1, "Storgatan 1")
	for i := range 60 {
		sim.Door(1, i%2 == 0, clk.Now().Add(time.Duration(i)*time.Second))
	}
	steps := []struct {
		name, method, path, token, body string
		want                            int
		advance                         time.Duration // after the step
	}{
		{"no token", "GET", "/smartlock", "", "", 401, 0},
		{"wrong token", "GET", "/smartlock", "nope", "", 401, 0},
		{"locks", "GET", "/smartlock", "tok", "", 200, 0},
		{"unknown lock", "GET", "/smartlock/2/auth", "tok", "", 404, 0},
		{"limit above 50", "GET", "/smartlock/log?limit=51", "tok", "", 400, 0},
		{"limit 50", "GET", "/smartlock/log?limit=50", "tok", "", 200, 0},
		{"user without email", "PUT", "/account/user", "tok", `{"name":"TSTNMT2321000156-P1"}`, 400, 0},
		{"user", "PUT", "/account/user", "tok", `{"name":"TSTNMT2321000156-P1","email":"p1@k.example"}`, 200, 0},
		{"user email taken", "PUT", "/account/user", "tok", `{"name":"x","email":"P1@k.example"}`, 409, 0},
		{"auth without remoteAllowed", "PUT", "/smartlock/1/auth", "tok", `{"name":"TSTNMT2321000156-P1","accountUserId":1061}`, 400, 0},
		{"auth name too long", "PUT", "/smartlock/1/auth", "tok", `{"name":"` + strings.Repeat("x", 33) + `","accountUserId":1061,"remoteAllowed":false}`, 400, 0},
		{"auth", "PUT", "/smartlock/1/auth", "tok", `{"name":"TSTNMT2321000156-P1","accountUserId":1061,"remoteAllowed":false}`, 204, 0},
		{"second auth while busy", "PUT", "/smartlock/1/auth", "tok", `{"name":"TSTNMT2321000156-P2","accountUserId":1061,"remoteAllowed":false}`, 423, 10 * time.Second},
		{"second auth after", "PUT", "/smartlock/1/auth", "tok", `{"name":"TSTNMT2321000156-P2","accountUserId":1061,"remoteAllowed":false}`, 204, 0},
	}
	for _, s := range steps {
		got, body := call(t, sim, s.method, s.path, s.token, s.body)
		if got != s.want {
			t.Fatalf("%s: %s %s = %d %s, want %d", s.name, s.method, s.path, got, body, s.want)
		}
		if s.name == "user" && !strings.Contains(string(body), `"accountUserId":1061`) {
			t.Fatalf("user: %s, want accountUserId 1061 (the steps below use it)", body)
		}
		clk.Advance(s.advance)
	}
	if g := sim.Grants(1); len(g) != 1 {
		t.Errorf("before the second create is done the lock holds %d auths, want 1", len(g))
	}
	clk.Advance(10 * time.Second)
	if g := sim.Grants(1); len(g) != 2 {
		t.Errorf("after it the lock holds %d auths, want 2", len(g))
	}

	// The log pages backwards: newest first, then older than the last id.
	var page1, page2 []nukisim.Log
	_, b := call(t, sim, "GET", "/smartlock/log?limit=50", "tok", "")
	_ = json.Unmarshal(b, &page1)
	_, b = call(t, sim, "GET", "/smartlock/1/log?limit=50&id="+page1[49].ID, "tok", "")
	_ = json.Unmarshal(b, &page2)
	if len(page1) != 50 || len(page2) != 10 || !page1[0].Date.After(page1[49].Date) || !page2[0].Date.Before(page1[49].Date) {
		t.Errorf("pages of %d and %d, want 50 and 10 newest first", len(page1), len(page2))
	}
	from := page1[9].Date.Format(time.RFC3339)
	_, b = call(t, sim, "GET", "/smartlock/log?limit=50&fromDate="+from, "tok", "")
	var recent []nukisim.Log
	_ = json.Unmarshal(b, &recent)
	if len(recent) != 10 {
		t.Errorf("fromDate %s: %d entries, want 10", from, len(recent))
	}
}

func TestFaults(t *testing.T) {
	sim, err := nukisim.Start(nukisim.Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sim.Fail(429, 2)
	for i, want := range []int{429, 429, 200} {
		if got, _ := call(t, sim, "GET", "/smartlock", "tok", ""); got != want {
			t.Errorf("request %d = %d, want %d", i+1, got, want)
		}
	}
	if n := sim.Requests()["GET /smartlock"]; n != 3 {
		t.Errorf("Requests counted %d, want 3", n)
	}
}
