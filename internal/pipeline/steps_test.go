package pipeline_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// TestStepErrorReasonBounded: whatever a step returns, the reason the hub
// stores, logs and sends is at most pipeline.MaxReasonBytes of it, cut at
// a character and saying how much was left out.
func TestStepErrorReasonBounded(t *testing.T) {
	tests := []struct {
		name    string
		reason  string
		cut     bool
		wantEnd string
	}{
		{"short", "field x: empty", false, "field x: empty"},
		{"exactly the budget", strings.Repeat("a", pipeline.MaxReasonBytes), false, "aaaa"},
		{"5 MB", strings.Repeat("b", 5<<20), true, "… (5240832 bytes more)"},
		{"cut inside a character", strings.Repeat("a", pipeline.MaxReasonBytes-1) + "åäö", true, "… (6 bytes more)"},
		// A personnummer as a name the sender chose (a JSON key) is masked.
		{"personnummer in a name", "at '': additional properties '19121212-1212', '191212121212' not allowed", false, "'19121212-****', '19121212-****' not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&pipeline.StepError{Pipeline: "p", Step: "steps[0].map", MessageID: "m", Err: errors.New(tt.reason)}).Error()
			if !strings.HasPrefix(got, "pipeline p: steps[0].map: message m: ") {
				t.Errorf("Error() = %.80q, want the pipeline, step and message first", got)
			}
			if max := len("pipeline p: steps[0].map: message m: ") + pipeline.MaxReasonBytes + 40; len(got) > max {
				t.Errorf("Error() is %d bytes, want at most %d", len(got), max)
			}
			if !utf8.ValidString(got) {
				t.Error("Error() is not valid UTF-8: the cut split a character")
			}
			if !strings.HasSuffix(got, tt.wantEnd) {
				t.Errorf("Error() ends %q, want %q", got[max(0, len(got)-40):], tt.wantEnd)
			}
			if strings.Contains(got, "bytes more") != tt.cut {
				t.Errorf("Error() cut = %v, want %v", !tt.cut, tt.cut)
			}
		})
	}
}
