package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestServeBadConfig checks that knut serve refuses to start on a bad
// config file and names what is wrong. None of these gets as far as
// serving.
func TestServeBadConfig(t *testing.T) {
	t.Parallel()
	broken := copyTestdata(t, filepath.Join("validate", "broken"))
	tests := []struct {
		name   string
		config string // knut.yaml; $DIR is a temporary directory, $BROKEN the broken content
		errHas []string
	}{
		{"unknown key", "stroe: {dsn: knut.db}\n", []string{"knut.yaml:1: unknown key stroe (known: environment, store, bus, http,"}},
		{"the http adapter's key in knut.yaml", "http:\n  listen: '127.0.0.1:0'\n  max_body_size: 10MiB\n",
			[]string{"knut.yaml:3: unknown key http.max_body_size (known: listen, disabled, tls, max_body, operators)"}},
		{"nested unknown key", "http: {listen: '127.0.0.1:0', max_bdoy: 1MiB}\n", []string{"knut.yaml:1: unknown key http.max_bdoy (known: listen, disabled, tls, max_body, operators)"}},
		{"bad values", "log: {level: loud}\nbus: {kind: kafka}\n", []string{"knut.yaml", `log.level: "loud"`, `bus.kind: "kafka"`}},
		{"bad size", "http: {max_body: lots}\n", []string{`knut.yaml:1: invalid size "lots": want a whole number with KiB, MiB or GiB`}},
		{"decimal size", "log: {level: info}\nhttp: {max_body: 10MB}\n", []string{`knut.yaml:2: invalid size "10MB"`, "such as 512KiB or 10MiB"}},
		{"production without mutual TLS", "environment: production\nstore: {key: env:KNUT_TEST_NO_SUCH_KEY}\n", []string{"http.tls.client_ca"}},
		{"broken pipelines", "store: {dsn: $DIR/knut.db}\nhttp: {listen: '127.0.0.1:0'}\npipelines: $BROKEN/pipelines\nmappings: $BROKEN/mappings\nschemas: $BROKEN/schemas\n",
			[]string{"tes_visits.yaml:12: retries: unknown key", "tes_visits.yaml:9: steps[1].transform: unknown step"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := filepath.Join(dir, "knut.yaml")
			text := strings.NewReplacer("$DIR", dir, "$BROKEN", broken).Replace(tt.config)
			if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := knut(t, "serve", "--config", cfg)
			if err == nil {
				t.Fatal("knut serve succeeded with a bad config")
			}
			for _, want := range tt.errHas {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestServeMissingConfig(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "knut.yaml")
	_, _, err := knut(t, "serve", "--config", missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("knut serve --config %s: error %v, want one naming the file", missing, err)
	}
}

// TestReplay replays a message that does not exist, one that was
// processed, and a dead one; without the providers' secrets, which the TES
// pipeline does not need.
func TestReplay(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	_, good := demoVisits(t, dir, "visits.jsonl", 1)
	file := filepath.Join(dir, "mixed.jsonl")
	if err := os.WriteFile(file, []byte(good[0]+"\n"+`{"visitId": `+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", file); err != nil || !strings.Contains(out, "stored=1 dead=1") {
		t.Fatalf("knut import: %v\n%s", err, out)
	}
	st, ids := idsByStatus(t, cfg)
	if ids[store.StatusProcessed] == "" || ids[store.StatusDead] == "" {
		t.Fatalf("want a processed and a dead message, have %v", ids)
	}

	unknown := "01a20000-0000-7000-8000-000000000000"
	tests := []struct {
		name   string
		id     string
		errHas []string
	}{
		{"unknown id", unknown, []string{"replay " + unknown, "not found"}},
		{"processed message", ids[store.StatusProcessed], []string{"replay " + ids[store.StatusProcessed], "not dead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := knut(t, "replay", "--config", cfg, tt.id)
			if err == nil {
				t.Fatalf("knut replay %s succeeded: %s", tt.id, out)
			}
			for _, want := range tt.errHas {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("knut replay %s: error %q does not mention %q", tt.id, err, want)
				}
			}
		})
	}

	t.Run("dead message", func(t *testing.T) {
		dead := ids[store.StatusDead]
		out, _, err := knut(t, "replay", "--config", cfg, dead)
		if err != nil {
			t.Fatalf("knut replay %s: %v", dead, err)
		}
		if !regexp.MustCompile(`^replayed ` + dead + ` as [0-9a-f-]{36}\n$`).MatchString(out) {
			t.Errorf("knut replay output %q, want \"replayed %s as NEW_ID\"", out, dead)
		}
		dls, err := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{MessageID: dead})
		if err != nil || len(dls) != 1 || dls[0].ResolvedAt == nil || dls[0].ReplayedMessageID == "" {
			t.Errorf("dead letter after replay: %+v, %v; want it resolved with the new message id", dls, err)
		}
		// Once replayed, it cannot be replayed again.
		if _, _, err := knut(t, "replay", "--config", cfg, dead); err == nil {
			t.Errorf("second knut replay %s succeeded", dead)
		}
	})
}

// idsByStatus opens cfg's store and returns it with a message ID for each
// status the log holds.
func idsByStatus(t *testing.T, cfg string) (*store.Store, map[store.Status]string) {
	t.Helper()
	st := openStore(t, cfg)
	msgs, err := st.ListMessages(t.Context(), store.MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[store.Status]string{}
	for _, m := range msgs {
		ids[m.Status] = m.ID
	}
	return st, ids
}
