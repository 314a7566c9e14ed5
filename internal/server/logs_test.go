package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/logging"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogsMaskPersonalData: personal data never appears unmasked in logs.
// A hub logging everything at debug level takes two days of the demo
// municipality's visits over HTTP as phone syncs (tessim), the bad ones included, and afterwards
// its whole log is scanned for the clients' personnummer in every written
// form and for unmasked values of name-like fields.
func TestLogsMaskPersonalData(t *testing.T) {
	var buf syncBuffer
	log, err := logging.New(logging.Options{Format: logging.FormatJSON, Level: zapcore.DebugLevel, Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(t.Context(), repoConfig(t, ""), server.Options{Logger: log, Secrets: demo.Secrets(nil)})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		log.Sync()
	}
	t.Cleanup(stop)
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("hub not ready after 10s")
	}

	// Two days of visits with the feed's bad and duplicate messages
	// (invalid personnummer, unknown method, end before start).
	m := demo.NewMunicipality(1)
	url := "http://" + srv.Addr() + "/ingest/tes_visits"
	today := time.Date(2026, 11, 23, 9, 0, 0, 0, demo.Stockholm())
	tes := &demo.TES{URL: "http://" + srv.Addr(), Client: &http.Client{Timeout: 10 * time.Second},
		Plan: func(day homecare.Date) (tessim.Plan, error) { return m.Plan(nil, day) }}
	phones, err := tes.Run(t.Context(), today, 2, 1)
	if err != nil {
		t.Fatalf("TES: %v", err)
	}
	if phones.Bad != 3 || phones.Duplicates == 0 {
		t.Fatalf("TES sent %d bad visits and %d again, want 3 and some", phones.Bad, phones.Duplicates)
	}
	// More ways a client's number can reach an error message: broken JSON
	// around it, and a valid number where the schema wants something else.
	pnr := m.Clients[0].PersonID.Reveal()
	extra := []struct{ id, body string }{
		{"LOG-BROKEN", `{"visitId": "LOG-BROKEN", "clientPnr": "` + pnr + `", `},
		{"LOG-PNR-AS-TAG", `{"visitId": "LOG-PNR-AS-TAG", "clientPnr": "` + pnr + `", "tagUid": "` + pnr[:8] + `-` + pnr[8:] + `",` +
			` "start": "2026-11-22 08:00", "end": "2026-11-22 08:30", "staffHsaId": "TSTNMT2321000156-1001", "method": "NFC", "status": "UTFORD"}`},
		{"LOG-PNR-AS-STAFF", `{"visitId": "LOG-PNR-AS-STAFF", "clientPnr": "` + pnr + `", "staffHsaId": "` + pnr[2:8] + `-` + pnr[8:] + `",` +
			` "start": "2026-11-22 08:00", "end": "2026-11-22 08:30", "method": "NFC", "status": "UTFORD"}`},
	}
	for _, e := range extra {
		if code, msg := post(t, url, e.id, []byte(e.body)); code >= 300 {
			t.Fatalf("POST %s = %d %s", e.id, code, msg)
		}
	}
	c := settle(t, srv.Store(), int64(phones.Visits-phones.Duplicates+len(extra))) // one sync arrives twice
	if c[store.StatusDead] < 3+int64(len(extra)) {
		t.Errorf("counts = %v, want at least %d dead", c, 3+len(extra))
	}
	stop()

	text := buf.String()
	if text == "" {
		t.Fatal("the hub logged nothing: the scan would prove nothing")
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	deadLines := 0
	for i, line := range lines {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("log line %d is not JSON: %v\n%s", i+1, err, line)
			continue
		}
		if entry["msg"] == "dead letter" {
			deadLines++
		}
		checkSensitive(t, i+1, "", entry)
	}
	if deadLines < 3+len(extra) {
		t.Errorf("%d dead-letter lines in the log, want at least %d", deadLines, 3+len(extra))
	}
	// The number written as a tag UID breaks the schema's pattern: the
	// reason names the field and the rule, and not the value, not even
	// masked.
	if want := "at '/tagUid': does not match pattern"; !strings.Contains(text, want) {
		t.Errorf("the log does not explain the LOG-PNR-AS-TAG dead letter with %q", want)
	}
	if masked := pnr[:8] + "-****"; strings.Contains(text, masked) {
		t.Errorf("the log repeats the value of a field (%s), masked", masked)
	}
	t.Logf("scanned %d log lines (%d bytes, %d dead letters)", len(lines), len(text), deadLines)

	for _, c := range m.Clients {
		d := c.PersonID.Reveal()
		for _, form := range []string{d, d[:8] + "-" + d[8:], d[2:], d[2:8] + "-" + d[8:]} {
			if i := strings.Index(text, form); i >= 0 {
				t.Errorf("the log contains personnummer %s unmasked: …%s…", form, text[max(0, i-300):min(len(text), i+len(form)+80)])
			}
		}
	}
	// The invalid number is no one's, but the log has no business with
	// client numbers that fail their check either.
	for _, form := range []string{"20150916-0006", "201509160006", "150916-0006"} {
		if strings.Contains(text, form) {
			t.Errorf("the log contains the invalid personnummer %s", form)
		}
	}
}

// checkSensitive fails for every value under a personal-data key (name,
// address, phone, …; logging.SensitiveKey) that is not masked.
func checkSensitive(t *testing.T, line int, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if logging.SensitiveKey(k) && x != "***" {
				t.Errorf("log line %d: %s.%s = %v, want ***", line, path, k, x)
				continue
			}
			checkSensitive(t, line, path+"."+k, x)
		}
	case []any:
		for _, x := range v {
			checkSensitive(t, line, path+"[]", x)
		}
	}
}
