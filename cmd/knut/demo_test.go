package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/demo"
)

// TestDemoOnce runs the README quick start's demo for one day.
func TestDemoOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	start := time.Now()
	err := run(ctx, []string{"demo", "--once", "--days", "1", "--root", "../..", "--dir", t.TempDir()},
		strings.NewReader(""), &out, &errOut)
	if err != nil {
		t.Fatalf("knut demo --once: %v (after %s)\nstdout:\n%s\nstderr:\n%s", err, time.Since(start), out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"Knutpunkt demo: Demo kommun, ",
		"\nMessage log: what each pipeline received, and what it delivered to its sink\n",
		"Dead letters (3), each with its reason",
		"Visits stored (",
		"DAY", "PROVIDER", "VISITS", "MINUTES",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output does not contain %q:\n%s", want, got)
		}
	}
	// The staff directory and the access review.
	if _, err := demo.FindContracts("../.."); err != nil {
		if os.Getenv("CI") != "" {
			t.Errorf("the demo's HSA directory cannot run in CI: %v", err)
		}
		t.Logf("the HSA part of the demo is not checked: %v", err)
	} else {
		for _, want := range []string{
			"Staff directory: the hub read Omsorg Norr's 6 staff from HSA over RIV-TA",
			"staff.left  hsa:TSTNMT2321000156-1006 (employment ended)",
			"staff.joined  hsa:TSTNMT2321000156-1013\n",
			"Staff events in all: 7 joined, 0 changed, 1 left",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("demo output does not contain %q:\n%s", want, got)
			}
		}
		review := got[strings.Index(got, "The quarter's access review"):]
		for _, line := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^  TSTNMT2321000156-1006 +Sara Ek +Undersköterska +\d{4}-\d\d-\d\d +1 .* left_with_access$`),
			regexp.MustCompile(`(?m)^  TSTNMT2321000156-1003 +\(skyddad personuppgift\) `),
			regexp.MustCompile(`(?m)^  TSTNMT2321000156-1013 +Nils Holm +Undersköterska +1 +[1-9] +0 +0 *$`),
		} {
			if !line.MatchString(review) {
				t.Errorf("the access review has no line matching %s:\n%s", line, review)
			}
		}
		// The keys follow the orders and the directory.
		keys := regexp.MustCompile(`granted (\d+) keys at (\d+) doors`).FindStringSubmatch(got)
		if keys == nil || keys[1] == "0" || keys[2] == "0" {
			t.Errorf("the demo granted no keys:\n%s", got)
		}
		for _, re := range []string{
			`the staff opened the doors \d+ times around the visits; the hub read \d+ events`,
			`the directory's leaver TSTNMT2321000156-1006: [1-9]\d* keys revoked at the next comparison; the joiner TSTNMT2321000156-1013: [1-9]\d* keys granted`,
			`TSTNMT2321000156-1002's phone was lost: .knut keys revoke. removed all [1-9]\d* keys at the vendor in \S+; the phone's next try at a door was rejected by the lock`,
			`(?m)^    \d{4}-\d\d-\d\d 03:10  \d+  TSTNMT2321000156-\d{4}  unlock  no_visit$`,
		} {
			if !regexp.MustCompile(re).MatchString(got) {
				t.Errorf("the demo's keys: no line matching %s:\n%s", re, got)
			}
		}
		if strings.Contains(got, "Fatima") || strings.Contains(got, "Haddad") {
			t.Error("the protected person's name is in the demo's output")
		}
	}
	// Hemtjänst Söder's staff are in no directory the hub syncs: the review says so.
	if !regexp.MustCompile(`(?m)^2026Q\d hemtjanst-soder\n.*\n  TSTNMT2321000156-1007 .* not_in_directory$`).MatchString(got) {
		t.Errorf("the access review does not list Söder's staff as in no directory:\n%s", got)
	}
	// The nights' reconciliation: the first run over the simulated days, a supervisor's
	// correction, the next run showing the changed line, and the month's payment basis
	// the case system received, equal to what the hub computed.
	for _, re := range []string{
		`(?m)^Reconciliation of executed hours .*\n  \d{4}-\d\d-01 to \d{4}-\d\d-\d\d: run \S+, \d+ days, [1-9]\d* visits, \d+ lock events; [1-9]\d* day lines`,
		`a supervisor shortened visit TES-\S+ by 10 minutes \(version 2\)`,
		`lines changed against the earlier run: \d{4}-\d\d-\d\d client [0-9a-f]{8} \S+ \S+: registered ([\d.]+) min, payable [\d.]+ min \([A-Z_,]+\) → registered [\d.]+ min`,
	} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("the demo's reconciliation: no line matching %s:\n%s", re, got)
		}
	}
	bases := regexp.MustCompile(`(?m)^  (\S+) +\d+ +\d+ +\d+ +\d+ +(\d+\.\d\d) +[\d.]+(?: \(review\))? +(\S+) kr$`).FindAllStringSubmatch(got, -1)
	if len(bases) != 2 {
		t.Errorf("the payment basis: %d providers' lines, want 2:\n%s", len(bases), got)
	}
	for _, b := range bases {
		if b[2] != b[3] || b[2] == "0.00" {
			t.Errorf("the payment basis of %s: the hub computed %s kr, the case system got %s kr", b[1], b[2], b[3])
		}
	}
	if !regexp.MustCompile(`The month's report: \S+/reconciliation-\d{4}-\d\d\.html`).MatchString(got) {
		t.Errorf("the demo does not name the month's report:\n%s", got)
	}
	rows := messageLog(t, got)
	if tes := rows["tes_sync"]; tes[1] == 0 || tes[2] != 3 || tes[1]+tes[2] != tes[0] || tes[3] != 0 {
		t.Errorf("message log of tes_sync: %v, want processed > 0, 3 dead, nothing left over and no deliveries", tes)
	}
	// The nightly export's rows are the first day's visits, which the phones had pushed.
	if nightly := rows["tes_nightly"]; nightly[1] == 0 || nightly[2] != 0 || nightly[1] != nightly[0] {
		t.Errorf("message log of tes_nightly: %v, want every row processed", nightly)
	}
	if !strings.Contains(got, "The nightly export tes-export-") {
		t.Errorf("the demo does not say the nightly export was taken:\n%s", got)
	}
	// What the phones did (tessim): the syncs pushed and what they carried add up to
	// the message log of tes_sync, the sync sent twice aside.
	phones := regexp.MustCompile(`syncs pushed to /ingest/tes_sync: (\d+), with visit records: (\d+) \(registered by the phones: (\d+); supervisors' corrections the next morning, version 2: (\d+)\)`).FindStringSubmatch(got)
	dupes := regexp.MustCompile(`visits answered duplicate: (\d+)\); bad records in one sync: 3; nightly exports taken: 1 \((\d+) rows\)`).FindStringSubmatch(got)
	if phones == nil || dupes == nil {
		t.Fatalf("no block of what the phones did:\n%s", got)
	}
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	if visits, performed, corrections := n(phones[2]), n(phones[3]), n(phones[4]); n(phones[1]) == 0 || performed == 0 ||
		visits != performed+corrections+3+n(dupes[1]) || visits-n(dupes[1]) != rows["tes_sync"][0] || n(dupes[2]) != rows["tes_nightly"][0] {
		t.Errorf("the phones pushed %v (%v), the message log has tes_sync %v, tes_nightly %v", phones[1:], dupes[1:], rows["tes_sync"], rows["tes_nightly"])
	}
	if !strings.Contains(got, "visits the hub flagged (on intake and in the nightly review): ") {
		t.Errorf("the demo does not say which visits the hub flagged:\n%s", got)
	}
	// What the vendors saw matches the log: the providers got the
	// deliveries of their pipelines, the case system its receipts.
	vendors := regexp.MustCompile(`Omsorg Norr got (\d+) webhook deliveries, Hemtjänsten Söder (\d+) files over SFTP`).FindStringSubmatch(got)
	if vendors == nil {
		t.Fatalf("no line of what the providers got:\n%s", got)
	}
	var receipts int64
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:mottagen|verkstalld|avvisad|avbrott|avslut)\s+(\d+)$`).FindAllStringSubmatch(got, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		receipts += n
	}
	for pipeline, want := range map[string]string{"provider_omsorg_norr": vendors[1], "provider_hemtjanst_soder": vendors[2],
		"lifecare_receipts": strconv.FormatInt(receipts, 10)} {
		if got := strconv.FormatInt(rows[pipeline][3], 10); got != want || want == "0" {
			t.Errorf("message log: %s made %s deliveries, the vendor got %s", pipeline, got, want)
		}
		if rows[pipeline][0] != rows[pipeline][3] {
			t.Errorf("message log: %s received %d inputs and made %d deliveries, want one each", pipeline, rows[pipeline][0], rows[pipeline][3])
		}
	}
	// Each of the three bad visits is explained.
	for _, reason := range []string{"field client.person_id: personnummer: ", "field duration_minutes: minutes: end is before start", "at '/method'"} {
		if !strings.Contains(got, reason) {
			t.Errorf("dead letters do not explain %q:\n%s", reason, got)
		}
	}
	assertNoPersonIDs(t, "knut demo's output", got)
	assertNoPersonIDs(t, "knut demo's log", errOut.String())
}

func TestDemoWithoutContent(t *testing.T) {
	t.Parallel()
	_, _, err := knut(t, "demo", "--once", "--root", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "has no knut.yaml and pipelines directory") {
		t.Errorf("knut demo in an empty root: error %v, want one saying there are no pipelines", err)
	}
}

// TestDemoAnywhere builds the binary and runs `knut demo --once` from a
// directory outside the repository, as a newcomer would after go install:
// the pipelines, mappings and schemas built into knut run, and --dir keeps
// the store and says so.
func TestDemoAnywhere(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "knut")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	elsewhere, store := t.TempDir(), filepath.Join(t.TempDir(), "kept")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--once", "--days", "1", "--dir", store)
	cmd.Dir = elsewhere
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "KNUT_") })
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("knut demo --once in %s: %v\nstdout:\n%s\nstderr:\n%s", elsewhere, err, out.String(), errOut.String())
	}
	db := filepath.Join(store, "demo.db")
	for _, want := range []string{
		"pipelines, mappings and schemas: built into knut\n",
		"store: " + db + ", kept after the demo (--dir)",
		"Dead letters (3), each with its reason",
		"The store is kept in " + db,
		// Outside a checkout with ../shared beside it, the HSA directory does not run,
		// and the demo says why; the access review still lists the staff the visits show.
		"Staff directory (HSA over RIV-TA): not run: the RIV-TA HSA contracts are not on this machine",
		"no key was granted: only staff a directory sync lists get keys",
		"The quarter's access review (`knut report access --quarter ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output does not contain %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the store was not kept: %v", err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("the demo wrote into the working directory: %v", entries)
	}
}

// messageLog reads the demo's message log table: per pipeline received,
// processed, dead, deliveries, delivered, failed.
func messageLog(t *testing.T, out string) map[string][6]int64 {
	t.Helper()
	rows := map[string][6]int64{}
	re := regexp.MustCompile(`(?m)^\s+([a-z_]+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		var r [6]int64
		for i := range r {
			r[i], _ = strconv.ParseInt(m[i+2], 10, 64)
		}
		rows[m[1]] = r
	}
	if len(rows) == 0 {
		t.Fatalf("no message log in the demo's output:\n%s", out)
	}
	return rows
}
