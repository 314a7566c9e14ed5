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
		{in: "SE2321000016-abc123xyz012345678"}, // 31 characters
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
