package lifecaresim_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
)

// post sends body to url with an Idempotency-Key and returns the status.
func post(t *testing.T, url, key, body string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Content-Type", "application/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestExecutedEndpoint: the case system takes executed time valid against executed.xsd,
// records it once per Idempotency-Key, refuses what is not, and keeps a day's latest
// version.
func TestExecutedEndpoint(t *testing.T) {
	cs := newCaseSystem(t, lifecaresim.Options{})
	full, err := os.ReadFile("../../../schemas/lifecare/testdata/valid/executed_full.xml")
	if err != nil {
		t.Fatal(err)
	}
	v1 := strings.Replace(strings.Replace(string(full), "<utgava>2</utgava>", "<utgava>1</utgava>", 1), "/v2<", "/v1<", 1)
	v1 = strings.Replace(v1, "<minuter>82</minuter>", "<minuter>72</minuter>", 1)
	for _, tc := range []struct {
		key, body string
		want      int
	}{
		{"v1", v1, 200}, {"v1", v1, 200}, {"v2", string(full), 200},
		{"bad", strings.Replace(string(full), "<utgava>2</utgava>", "<utgava>0</utgava>", 1), 400},
		{"receipt", receipt, 400}, // a Kvittens is not utförd tid
	} {
		if got := post(t, cs.ExecutedURL(), tc.key, tc.body); got != tc.want {
			t.Errorf("POST %s (%s) = %d, want %d", lifecaresim.ExecutedPath, tc.key, got, tc.want)
		}
	}
	got := cs.Executed()
	if len(got) != 2 {
		t.Fatalf("%d executed days recorded, want 2 (v1 once, v2)", len(got))
	}
	if len(cs.Receipts()) != 0 {
		t.Error("executed time was recorded as a receipt")
	}
	days := cs.ExecutedDays()
	if len(days) != 1 {
		t.Fatalf("ExecutedDays = %d, want the one client-day", len(days))
	}
	d := days[0]
	if d.Edition != 2 || d.Minutes != 82 || d.Order != "BEST-2026-0101" || d.Provider != "omsorg-norr" ||
		d.Date.String() != "2026-11-23" || len(d.Insatser) != 2 || d.Insatser[0].Code != "DUSCH" || d.PersonID() != "194001042383" {
		t.Errorf("the day the case system holds = %+v, want version 2 with 82 minutes", d)
	}
}
