package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/adapters/provider"
	"github.com/knutpunkt/knutpunkt/internal/store"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

// The hostile corpus (testdata/hostile/cases.yaml) is what a hostile
// tester sends a hub: entity and DTD tricks, XInclude, schema locations,
// attribute, depth and key bombs, broken encodings, duplicate keys,
// oversized fields and CSV that does not parse, each with the outcome the
// hub must give. TestHostileCorpus runs every case against a real `knut
// serve` on loopback (and the CSV cases through `knut import` beside it),
// on SQLite and PostgreSQL, and checks what must hold for all of them:
//
//   - each request is answered, none hangs (answerBound), and the hub stays
//     up (/healthz answers 200 after the last one);
//   - the hub makes no outbound connection: every URL a case can smuggle in
//     ({{CANARY}}) and every vendor the pipelines deliver to points at a
//     canary listener that must see nothing;
//   - nothing a case sent comes back: no marker, personnummer or local
//     file's content in an answer, a dead-letter reason, an attempt's
//     error or a log line (at debug level);
//   - each case has its own outcome: refused at the door with a status, or
//     taken (202) and dead-lettered at a step with a reason, or stored.

// hostileSecret signs the callback cases, as Hemtjänsten Söder would.
const hostileSecret = "hostile-corpus-callback-secret"

// The strings no answer, reason, attempt or log line may contain. The
// personnummer is Skatteverket's test number 19121212-1212
// (../shared/ext/skatteverket, SOURCE.md there), in the forms cases use.
var hostileLeaks = []string{
	"HOSTILE-MARKER",
	"FILE-CANARY-CONTENT",
	"root:x:0",
	"121212-1212", "121212+1212", "121212 1212", "1912121212", "1212121212",
}

// corpus is testdata/hostile/cases.yaml.
type corpus struct {
	Targets map[string]target `yaml:"targets"`
	Cases   []hostileCase     `yaml:"cases"`
}

// target is where a group of cases goes: an HTTP path or a pipeline that
// `knut import` feeds.
type target struct {
	Path        string `yaml:"path"`
	ContentType string `yaml:"content_type"`
	// Sign signs each request as the provider's callback client does.
	Sign bool `yaml:"sign"`
	// Import names the pipeline `knut import` runs the case's file
	// through; Ext is the file's extension (it picks the reader; the name
	// is the case's, as import skips a file name and line it has seen).
	Import string `yaml:"import"`
	Ext    string `yaml:"ext"`
}

type hostileCase struct {
	Name string `yaml:"name"`
	To   string `yaml:"to"`
	// Method, Path and ContentType override the target's; Headers are
	// added.
	Method      string            `yaml:"method"`
	Path        string            `yaml:"path"`
	ContentType *string           `yaml:"content_type"`
	Headers     map[string]string `yaml:"headers"`
	// Sign overrides the target's signing.
	Sign *bool `yaml:"sign"`
	// Body is the payload with placeholders (see expand); Gen makes a
	// large one instead.
	Body string     `yaml:"body"`
	Gen  *generator `yaml:"gen"`
	Want outcome    `yaml:"want"`
}

// outcome is what a case must come to.
type outcome struct {
	// Status is the HTTP answer (import cases: none).
	Status int `yaml:"status"`
	// Dead is the pipeline step the message is dead-lettered at, and
	// Reason a substring of its reason. An import case's Reason may also
	// be the error `knut import` refuses the file with (Dead empty).
	Dead   string `yaml:"dead"`
	Reason string `yaml:"reason"`
	// Stored: the message is processed (a hostile string the hub holds
	// as data, harmless).
	Stored bool `yaml:"stored"`
}

// generator makes a body too large to write out: N repeats of a unit
// between a head and a tail.
type generator struct {
	Head   string `yaml:"head"`
	Repeat string `yaml:"repeat"` // %d is replaced by the repeat's index
	N      int    `yaml:"n"`
	Tail   string `yaml:"tail"`
}

func (g *generator) body() string {
	var b strings.Builder
	b.WriteString(g.Head)
	indexed := strings.Contains(g.Repeat, "%d")
	for i := range g.N {
		if indexed {
			b.WriteString(strings.ReplaceAll(g.Repeat, "%d", fmt.Sprint(i)))
		} else {
			b.WriteString(g.Repeat)
		}
	}
	b.WriteString(g.Tail)
	return b.String()
}

func loadCorpus(t *testing.T) corpus {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hostile", "cases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c corpus
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("testdata/hostile/cases.yaml: %v", err)
	}
	seen := map[string]bool{}
	for _, hc := range c.Cases {
		if _, ok := c.Targets[hc.To]; !ok || hc.Name == "" || seen[hc.Name] {
			t.Fatalf("case %q: unknown target %q, no name or a name used twice", hc.Name, hc.To)
		}
		seen[hc.Name] = true
		if hc.Want.Status == 0 && c.Targets[hc.To].Import == "" {
			t.Fatalf("case %s: want.status is required for an HTTP case", hc.Name)
		}
	}
	return c
}

// answerBound is how long a hostile request may take to be answered: a hub that
// reads a bomb to the end, or hangs on it, takes far longer. A quiet machine answers
// each within a second (logged above that); the bound leaves room for a CI machine
// busy with other tests, where an 11 MiB upload on loopback once took 1.07 s.
const answerBound = 5 * time.Second

func TestHostileCorpus(t *testing.T) {
	c := loadCorpus(t)
	if len(c.Cases) < 100 {
		t.Errorf("the corpus has %d cases, want at least 100", len(c.Cases))
	}
	t.Setenv("KNUT_HEMTJANST_SODER_CALLBACK_SECRET", hostileSecret)
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) { runCorpus(t, c, db.DSN) })
	}
}

// canary counts the connections made to it: the hub must make none.
type canary struct {
	ln    net.Listener
	count atomic.Int64
}

func newCanary(t *testing.T) *canary {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &canary{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.count.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

// syncBuffer is a bytes.Buffer the serving hub and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hostileConfig is the repository's configuration on a store of its own
// (dsn, or SQLite beside it), logging JSON at debug level, with every
// vendor the pipelines deliver to pointed at the canary.
func hostileConfig(t *testing.T, dsn, canaryAddr string) (cfg, dir string) {
	t.Helper()
	cfg, dir = repoConfig(t, "log: {format: json, level: debug}")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(canaryAddr)
	text := regexp.MustCompile(`127\.0\.0\.1:809\d`).ReplaceAllString(string(b), canaryAddr)
	text = regexp.MustCompile(`(?m)^  hemtjanst_soder_sftp_host: .*$`).ReplaceAllString(text, "  hemtjanst_soder_sftp_host: "+host)
	text = regexp.MustCompile(`(?m)^  hemtjanst_soder_sftp_port: .*$`).ReplaceAllString(text, `  hemtjanst_soder_sftp_port: "`+port+`"`)
	if dsn != "" {
		text = regexp.MustCompile(`(?m)^store: .*$`).ReplaceAllString(text, "store: {dsn: '"+dsn+"'}")
	}
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

// serve runs `knut serve --config cfg` until the test ends and returns
// its address.
func serve(t *testing.T, cfg string, logs *syncBuffer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfg}, strings.NewReader(""), io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("knut serve: %v", err)
		}
	})
	addr := regexp.MustCompile(`"msg":"knut serving","addr":"([^"]+)"`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := addr.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("knut serve stopped before serving: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("knut serve not serving after 20s:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hexPlaceholder is {{HEX:…}}, raw bytes in a case's body.
var hexPlaceholder = regexp.MustCompile(`\{\{HEX:([0-9a-f]*)\}\}`)

// rawBytes replaces each {{HEX:…}} in body with its bytes.
func rawBytes(t *testing.T, body string) string {
	return hexPlaceholder.ReplaceAllStringFunc(body, func(m string) string {
		b, err := hex.DecodeString(hexPlaceholder.FindStringSubmatch(m)[1])
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		return string(b)
	})
}

// result is what became of one case.
type result struct {
	status int
	answer string
	msgID  string // the message the hub took, if it took one
	// imported: an import case, whose answer is what knut import said and
	// dead the dead letters it left.
	imported bool
	dead     []store.DeadLetterRecord
}

func runCorpus(t *testing.T, c corpus, dsn string) {
	can := newCanary(t)
	cfg, dir := hostileConfig(t, dsn, can.ln.Addr().String())
	secretFile := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte("FILE-CANARY-CONTENT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expand := strings.NewReplacer(
		"{{CANARY}}", "http://"+can.ln.Addr().String()+"/canary",
		"{{CANARY_HOST}}", can.ln.Addr().String(),
		"{{FILE}}", secretFile,
		"{{MARKER}}", "HOSTILE-MARKER",
	).Replace
	logs := &syncBuffer{}
	addr := serve(t, cfg, logs)
	st := openStore(t, cfg)
	// Redirects are answers too: the test sees them, not where they lead.
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	results := make([]result, len(c.Cases))
	for i, hc := range c.Cases {
		tg := c.Targets[hc.To]
		body := expand(hc.Body)
		if hc.Gen != nil {
			body = expand(hc.Gen.body())
		}
		body = rawBytes(t, body)
		if tg.Import != "" {
			results[i] = importCase(t, st, cfg, dir, tg, hc, body)
			continue
		}
		// A full hub answers 503 with Retry-After, and the sender comes
		// back, as the vendors' clients do; every answer, that one too,
		// comes within answerBound.
		busy := time.Now()
		for {
			start := time.Now()
			res, err := postCase(t.Context(), client, "http://"+addr, tg, hc, body)
			if took := time.Since(start); took > answerBound {
				t.Errorf("case %s: answered in %v, want within %v", hc.Name, took.Round(time.Millisecond), answerBound)
			} else if took > time.Second {
				t.Logf("case %s: answered in %v (a quiet machine answers within a second)", hc.Name, took.Round(time.Millisecond))
			}
			if err != nil {
				t.Errorf("case %s: %v", hc.Name, err)
				break
			}
			results[i] = res
			if res.status != http.StatusServiceUnavailable || hc.Want.Status == http.StatusServiceUnavailable {
				break
			}
			if time.Since(busy) > 30*time.Second {
				t.Errorf("case %s: the hub still answers 503 after 30s", hc.Name)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if waited := time.Since(busy); testing.Verbose() && waited > time.Second {
			t.Logf("case %s: taken after %v of 503", hc.Name, waited.Round(time.Millisecond))
		}
	}

	if code, _, err := get(client, "http://"+addr+"/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("/healthz after the corpus: %d, %v", code, err)
	}
	settleStore(t, st)

	for i, hc := range c.Cases {
		checkCase(t, st, hc, results[i])
	}
	if n := can.count.Load(); n != 0 {
		t.Errorf("the hub made %d outbound connections, want none", n)
	}
	checkNoLeaks(t, st, results, logs.String())
}

// postCase sends one HTTP case.
func postCase(ctx context.Context, client *http.Client, base string, tg target, hc hostileCase, body string) (result, error) {
	method, path, ct := http.MethodPost, tg.Path, tg.ContentType
	if hc.Method != "" {
		method = hc.Method
	}
	if hc.Path != "" {
		path = hc.Path
	}
	if hc.ContentType != nil {
		ct = *hc.ContentType
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		return result{}, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	sign := tg.Sign
	if hc.Sign != nil {
		sign = *hc.Sign
	}
	if sign {
		key := "hostile-" + hc.Name
		ts, sig := provider.Sign([]byte(hostileSecret), time.Now(), key, []byte(body))
		req.Header.Set(provider.HeaderIdempotencyKey, key)
		req.Header.Set(provider.HeaderTimestamp, ts)
		req.Header.Set(provider.HeaderSignature, sig)
	}
	for k, v := range hc.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	res := result{status: resp.StatusCode, answer: string(b)}
	if resp.StatusCode == http.StatusAccepted {
		var a struct{ ID string }
		if err := json.Unmarshal(b, &a); err != nil || a.ID == "" {
			return res, fmt.Errorf("202 answer %q names no message: %v", b, err)
		}
		res.msgID = a.ID
	}
	return res, nil
}

// importCase runs one case's body as a file through `knut import`. The
// dead letters it left are the pipeline's new ones: cases run one at a
// time.
func importCase(t *testing.T, st *store.Store, cfg, dir string, tg target, hc hostileCase, body string) result {
	t.Helper()
	file := filepath.Join(dir, hc.Name+tg.Ext)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	before := deadIDs(t, st, tg.Import)
	out, errOut, err := knut(t, "import", "--config", cfg, "--pipeline", tg.Import, file)
	res := result{imported: true, answer: out + errOut}
	if err != nil {
		res.answer += err.Error()
	}
	dls, lerr := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{Pipeline: tg.Import, Limit: 1000})
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, dl := range dls {
		if !before[dl.ID] {
			res.dead = append(res.dead, dl)
		}
	}
	return res
}

func deadIDs(t *testing.T, st *store.Store, pipeline string) map[string]bool {
	t.Helper()
	dls, err := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{Pipeline: pipeline, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, dl := range dls {
		ids[dl.ID] = true
	}
	return ids
}

// checkCase checks one case's own outcome.
func checkCase(t *testing.T, st *store.Store, hc hostileCase, res result) {
	t.Helper()
	w := hc.Want
	if res.imported {
		checkImport(t, hc, res)
		return
	}
	if w.Status != 0 && res.status != w.Status {
		t.Errorf("case %s: answered %d %s, want %d", hc.Name, res.status, clip(res.answer), w.Status)
		return
	}
	if res.msgID == "" {
		switch {
		case w.Dead != "" || w.Stored:
			t.Errorf("case %s: no message taken (%d %s), want one", hc.Name, res.status, clip(res.answer))
		case w.Reason != "" && !strings.Contains(res.answer, w.Reason):
			t.Errorf("case %s: answer %s does not say %q", hc.Name, clip(res.answer), w.Reason)
		}
		return
	}
	rec, err := st.Message(t.Context(), res.msgID)
	if err != nil {
		t.Errorf("case %s: message %s: %v", hc.Name, res.msgID, err)
		return
	}
	switch {
	case w.Stored:
		if rec.Status != store.StatusProcessed {
			t.Errorf("case %s: message is %s, want processed", hc.Name, rec.Status)
		}
	case w.Dead != "":
		dls, err := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{MessageID: res.msgID})
		if err != nil || len(dls) != 1 {
			t.Errorf("case %s: message is %s with dead letters %+v (%v), want one at %s", hc.Name, rec.Status, dls, err, w.Dead)
			return
		}
		checkDead(t, hc, dls[0])
	default:
		t.Errorf("case %s: the hub took message %s (%s); the case wants it refused", hc.Name, res.msgID, rec.Status)
	}
}

// importLine is the summary line `knut import` ends with.
var importLine = regexp.MustCompile(`stored=(\d+) dead=(\d+)`)

// checkImport checks an import case: by its summary line, and its dead
// letter's step and reason.
func checkImport(t *testing.T, hc hostileCase, res result) {
	t.Helper()
	w := hc.Want
	m := importLine.FindStringSubmatch(res.answer)
	if m == nil {
		if w.Dead != "" || w.Stored || w.Reason == "" || !strings.Contains(res.answer, w.Reason) {
			t.Errorf("case %s: import said %s, want a summary line", hc.Name, clip(res.answer))
		}
		return
	}
	stored, dead := m[1] != "0", m[2] != "0"
	switch {
	case w.Stored && (!stored || dead):
		t.Errorf("case %s: import stored=%s dead=%s, want it stored", hc.Name, m[1], m[2])
	case w.Dead != "" && (stored || len(res.dead) != 1):
		t.Errorf("case %s: import stored=%s dead=%s with %d dead letters, want one dead letter", hc.Name, m[1], m[2], len(res.dead))
	case w.Dead != "":
		checkDead(t, hc, res.dead[0])
	case !w.Stored && (stored || dead):
		t.Errorf("case %s: import stored=%s dead=%s, want nothing", hc.Name, m[1], m[2])
	}
}

// checkDead checks a case's dead letter against its want.
func checkDead(t *testing.T, hc hostileCase, dl store.DeadLetterRecord) {
	t.Helper()
	if testing.Verbose() {
		t.Logf("case %s: dead at %s: %s", hc.Name, dl.Step, clip(dl.Reason))
	}
	if dl.Step != hc.Want.Dead || !strings.Contains(dl.Reason, hc.Want.Reason) {
		t.Errorf("case %s: dead at %s: %s\nwant at %s, reason containing %q", hc.Name, dl.Step, clip(dl.Reason), hc.Want.Dead, hc.Want.Reason)
	}
}

// settleStore waits until no message is still on its way.
func settleStore(t *testing.T, st *store.Store) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pending, err := st.ListMessages(t.Context(), store.MessageFilter{Status: store.StatusReceived, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d+ messages still received after 60s, e.g. %s", len(pending), pending[0].ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoLeaks looks for the corpus's markers wherever the hub writes
// text about a message: answers, dead-letter reasons, attempts, logs.
func checkNoLeaks(t *testing.T, st *store.Store, results []result, logs string) {
	t.Helper()
	texts := map[string]string{"log": logs}
	for i, r := range results {
		texts[fmt.Sprintf("answer to case %d", i)] = r.answer
	}
	dls, err := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) == 1000 {
		t.Errorf("1000 dead letters or more: the check below would see only some of them")
	}
	for _, dl := range dls {
		texts["dead letter of "+dl.MessageID] = dl.Reason + " " + dl.Field
		attempts, err := st.Attempts(t.Context(), dl.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range attempts {
			texts[fmt.Sprintf("attempt %d of %s", a.AttemptNo, dl.MessageID)] = a.Error
		}
	}
	for where, text := range texts {
		for _, leak := range hostileLeaks {
			if i := strings.Index(text, leak); i >= 0 {
				from, to := max(0, i-120), min(len(text), i+len(leak)+40)
				t.Errorf("%s contains %q: …%s…", where, leak, text[from:to])
			}
		}
	}
}

func get(client *http.Client, url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// clip shortens s for a failure message.
func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
