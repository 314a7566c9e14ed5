package homecare_test

import (
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// TestParseOrgNoShared checks personnummer/meta's orgnumber.json: every entry is a valid
// organisationsnummer ("valid": false there refers to personnummer validity) and must be
// refused as a personnummer.
func TestParseOrgNoShared(t *testing.T) {
	t.Parallel()
	var list []struct {
		ShortFormat     string `json:"short_format"`
		SeparatedFormat string `json:"separated_format"`
		Valid           bool   `json:"valid"`
		Type            string `json:"type"`
	}
	readShared(t, "orgnumber.json", &list)
	if len(list) == 0 {
		t.Fatal("orgnumber.json is empty")
	}
	for _, e := range list {
		for _, s := range []string{e.ShortFormat, e.SeparatedFormat} {
			o, err := homecare.ParseOrgNo(s)
			if err != nil {
				t.Errorf("ParseOrgNo(%q): %v", s, err)
				continue
			}
			if o.String() != e.ShortFormat || o.Separated() != e.SeparatedFormat {
				t.Errorf("ParseOrgNo(%q) = %q / %q", s, o, o.Separated())
			}
			if p, err := homecare.ParsePersonIDAt(s, fixedNow); err == nil && !e.Valid {
				t.Errorf("ParsePersonIDAt(%q) = %q, want an error", s, p)
			}
		}
	}
}

func TestParseOrgNo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "2321000016", want: "2321000016"},  // Region Stockholm (DOMAIN.md §4.1)
		{in: "212000-0142", want: "2120000142"}, // Stockholms kommun
		{in: "2321000017", wantErr: "orgno: check digit does not match"},
		{in: "4001042383", wantErr: "orgno: third digit must be 2 or more"}, // a personnummer
		{in: "232100001", wantErr: "orgno: want 10 digits, optionally with '-' before the last four"},
		{in: "23210000166", wantErr: "orgno: want 10 digits, optionally with '-' before the last four"},
		{in: "232100+0016", wantErr: "orgno: want 10 digits, optionally with '-' before the last four"},
		{in: "23210a0016", wantErr: "orgno: want 10 digits, optionally with '-' before the last four"},
		{in: "", wantErr: "orgno: want 10 digits, optionally with '-' before the last four"},
	}
	for _, tt := range tests {
		got, err := homecare.ParseOrgNo(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseOrgNo(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseOrgNo(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
