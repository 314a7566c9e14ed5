package homecare_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

func TestParseHSAID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		allowTest bool
		wantErr   string
		wantTest  bool
	}{
		// DOMAIN.md §4.1 examples.
		{in: "SE2321000016-F835"},
		{in: "SE2321000016-4HK5"},
		{in: "SE2321000016-A2G8"},
		{in: "SE2321000016-1003"},
		{in: "SE2321000016-1003", allowTest: true},
		{in: "TSTNMT2321000156-1024", allowTest: true, wantTest: true},
		{in: "TSTNMT2321000156-1002", allowTest: true, wantTest: true},
		{in: "IFV1239877878-104K", allowTest: true, wantTest: true},
		{in: "SEA0-0", allowTest: true, wantTest: true}, // the letter prefix is SEA, not SE
		{in: "SE2321000016-abc123xyz012345678"},         // 31 characters
		{in: "TSTNMT2321000156-1024", wantErr: "hsa-id: want prefix SE (test prefixes are not allowed here)"},
		{in: "IFV1239877878-104K", wantErr: "hsa-id: want prefix SE (test prefixes are not allowed here)"},
		{in: "", wantErr: "hsa-id: empty"},
		{in: "SE2321000016-abc123xyz0123456789", wantErr: "hsa-id: longer than 31 characters"},
		{in: "SE232100001-F835", wantErr: "hsa-id: want 10 digits after SE"},
		{in: "SE23210000167-F835", wantErr: "hsa-id: want 10 digits after SE"},
		{in: "SE2321000016-", wantErr: "hsa-id: want prefix, digits, '-' and letters or digits"},
		{in: "SE2321000016F835", wantErr: "hsa-id: want prefix, digits, '-' and letters or digits"},
		{in: "se2321000016-F835", wantErr: "hsa-id: want prefix, digits, '-' and letters or digits"},
		{in: "2321000016-F835", wantErr: "hsa-id: want prefix, digits, '-' and letters or digits"},
		{in: "SE-F835", wantErr: "hsa-id: want prefix, digits, '-' and letters or digits"},
		{in: "SE2321000016-F8Ö5", wantErr: "hsa-id: want only ASCII letters or digits after '-'"},
		{in: "SE2321000016-å", wantErr: "hsa-id: want only ASCII letters or digits after '-'"},
		{in: "SE2321000016-a@b", wantErr: "hsa-id: want only ASCII letters or digits after '-'"},
		{in: "SE2321000016-F8 5", wantErr: "hsa-id: want only ASCII letters or digits after '-'"},
		{in: "SE2321000016-F8-5", wantErr: "hsa-id: want only ASCII letters or digits after '-'"},
		{in: "TSTNMT2321000156-1024 ", allowTest: true, wantErr: "hsa-id: want only ASCII letters or digits after '-'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := homecare.ParseHSAID(tt.in, tt.allowTest)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseHSAID(%q, %v) = %q, %v; want error %q", tt.in, tt.allowTest, got, err, tt.wantErr)
				}
				if tt.in != "" && strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q repeats the input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHSAID(%q, %v): %v", tt.in, tt.allowTest, err)
			}
			if got.String() != tt.in {
				t.Errorf("ParseHSAID(%q) = %q", tt.in, got)
			}
			if got.IsTest() != tt.wantTest {
				t.Errorf("%q.IsTest() = %v, want %v", got, got.IsTest(), tt.wantTest)
			}
		})
	}
}

// FuzzParseHSAID: ParseHSAID never panics; a refusal returns no ID and one
// of its fixed messages (never the input); an accepted ID is the input,
// parses again to itself, and is a test ID exactly when only allowTest
// let it through.
func FuzzParseHSAID(f *testing.F) {
	for _, s := range []string{"SE2321000016-F835", "TSTNMT2321000156-1024", "IFV1239877878-104K", "SE232100001-F835", "SE2321000016-", "se2321000016-F835",
		"SE2321000016-Å", "SE2321000016-F835-1", strings.Repeat("A", 32), "", "-", "A1-1"} {
		f.Add(s)
	}
	messages := map[string]bool{
		"hsa-id: empty":                                               true,
		"hsa-id: longer than 31 characters":                           true,
		"hsa-id: want prefix, digits, '-' and letters or digits":      true,
		"hsa-id: want only ASCII letters or digits after '-'":         true,
		"hsa-id: want 10 digits after SE":                             true,
		"hsa-id: want prefix SE (test prefixes are not allowed here)": true,
	}
	f.Fuzz(func(t *testing.T, s string) {
		prod, prodErr := homecare.ParseHSAID(s, false)
		test, testErr := homecare.ParseHSAID(s, true)
		for _, r := range []struct {
			id  homecare.HSAID
			err error
		}{{prod, prodErr}, {test, testErr}} {
			if r.err != nil {
				if r.id != "" || !messages[r.err.Error()] {
					t.Fatalf("ParseHSAID(%q) = %q, %q: want no ID and a fixed message", s, r.id, r.err)
				}
				continue
			}
			if string(r.id) != s || len(s) > 31 {
				t.Fatalf("ParseHSAID(%q) = %q", s, r.id)
			}
			if again, err := homecare.ParseHSAID(r.id.String(), true); err != nil || again != r.id {
				t.Fatalf("ParseHSAID(%q) again = %q, %v", r.id, again, err)
			}
		}
		if prodErr == nil && testErr != nil {
			t.Fatalf("ParseHSAID(%q) accepts in production but not with test IDs allowed: %v", s, testErr)
		}
		if testErr == nil && test.IsTest() != (prodErr != nil) {
			t.Fatalf("ParseHSAID(%q): IsTest = %v, but production parse error = %v", s, test.IsTest(), prodErr)
		}
	})
}
