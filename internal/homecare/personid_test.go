package homecare_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// fixedNow resolves the century of 10-digit forms in the shared test data. It must be on or
// after 2021-07-19 (the youngest short-form number in list.json) and before 2057 (the oldest
// non-'+' short form, 1957, would then turn 100).
var fixedNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func TestParsePersonIDAllPins(t *testing.T) {
	t.Parallel()
	var pins []string
	readShared(t, "allPins.json", &pins)
	if len(pins) != 41129 {
		t.Fatalf("allPins.json has %d numbers, want 41129", len(pins))
	}
	checkAll(t, pins, homecare.Personnummer)
}

func TestParsePersonIDAllCoords(t *testing.T) {
	t.Parallel()
	var coords []string
	readShared(t, "allCoords.json", &coords)
	if len(coords) != 2264 {
		t.Fatalf("allCoords.json has %d numbers, want 2264", len(coords))
	}
	checkAll(t, coords, homecare.Samordningsnummer)
}

// checkAll parses every 12-digit number and its separated 12-digit form, and checks the
// type, the round trip, the birth date and that the list is the embedded official list.
func checkAll(t *testing.T, nums []string, want homecare.PersonIDType) {
	t.Helper()
	for _, s := range nums {
		p, err := homecare.ParsePersonIDAt(s, fixedNow)
		if err != nil {
			t.Errorf("ParsePersonIDAt(%q): %v", s, err)
			continue
		}
		if p.Reveal() != s || p.Type() != want {
			t.Errorf("ParsePersonIDAt(%q) = %q %s, want %q %s", s, p, p.Type(), s, want)
		}
		sep := s[:8] + "-" + s[8:]
		if q, err := homecare.ParsePersonIDAt(sep, fixedNow); err != nil || q != p {
			t.Errorf("ParsePersonIDAt(%q) = %q, %v; want %q", sep, q, err, s)
		}
		if b := p.BirthDate(); !b.IsZero() {
			day := b.Day()
			if want == homecare.Samordningsnummer {
				day += 60
			}
			if got := b.Format("200601") + twoDigits(day); got != s[:8] {
				t.Errorf("%q.BirthDate() gives %s", s, got)
			}
		} else if want == homecare.Personnummer {
			t.Errorf("%q.BirthDate() is zero", s)
		}
		if got := itoa(int64(p.BirthYear())); got != s[:4] {
			t.Errorf("%q.BirthYear() = %s", s, got)
		}
		if !homecare.IsOfficialTestNumber(p) {
			t.Errorf("IsOfficialTestNumber(%q) = false", s)
		}
	}
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

// listEntry is one row of personnummer/meta testdata/list.json.
type listEntry struct {
	Integer         int64  `json:"integer"`
	LongFormat      string `json:"long_format"`
	ShortFormat     string `json:"short_format"`
	SeparatedFormat string `json:"separated_format"`
	SeparatedLong   string `json:"separated_long"`
	Valid           bool   `json:"valid"`
	Type            string `json:"type"`
	IsMale          bool   `json:"isMale"`
	IsFemale        bool   `json:"isFemale"`
}

func TestParsePersonIDList(t *testing.T) {
	t.Parallel()
	var list []listEntry
	readShared(t, "list.json", &list)
	if len(list) == 0 {
		t.Fatal("list.json is empty")
	}
	for _, e := range list {
		t.Run(e.SeparatedLong, func(t *testing.T) {
			// The long and separated forms are unambiguous. The short form without separator
			// cannot carry '+', so for people of 100 or more it means the person born a
			// century later (list.json records the '+' only in separated_format).
			wantShort := e.LongFormat
			if strings.Contains(e.SeparatedFormat, "+") && len(e.LongFormat) == 12 {
				wantShort = addCentury(e.LongFormat)
			}
			forms := []struct{ name, in, want string }{
				{"long_format", e.LongFormat, e.LongFormat},
				{"short_format", e.ShortFormat, wantShort},
				{"separated_format", e.SeparatedFormat, e.LongFormat},
				{"separated_long", e.SeparatedLong, e.LongFormat},
			}
			for _, f := range forms {
				p, err := homecare.ParsePersonIDAt(f.in, fixedNow)
				if !e.Valid {
					if err == nil {
						t.Errorf("%s %q: parsed as %q, want an error", f.name, f.in, p)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s %q: %v", f.name, f.in, err)
					continue
				}
				if p.Reveal() != f.want {
					t.Errorf("%s %q: Reveal() = %q, want %q", f.name, f.in, p, f.want)
				}
				wantType := map[string]homecare.PersonIDType{"ssn": homecare.Personnummer, "con": homecare.Samordningsnummer}[e.Type]
				if p.Type() != wantType {
					t.Errorf("%s %q: Type() = %q, want %q", f.name, f.in, p.Type(), wantType)
				}
				if got := p.Sex() == homecare.SexMale; got != e.IsMale {
					t.Errorf("%s %q: Sex() = %v, want isMale %v", f.name, f.in, p.Sex(), e.IsMale)
				}
				if got := p.Sex() == homecare.SexFemale; got != e.IsFemale {
					t.Errorf("%s %q: Sex() = %v, want isFemale %v", f.name, f.in, p.Sex(), e.IsFemale)
				}
			}
		})
	}
}

func addCentury(long string) string {
	c := int(long[0]-'0')*10 + int(long[1]-'0') + 1
	return twoDigits(c) + long[2:]
}

func TestParsePersonIDStructured(t *testing.T) {
	t.Parallel()
	type group struct {
		Integer struct{ Valid, Invalid []int64 }  `json:"integer"`
		String  struct{ Valid, Invalid []string } `json:"string"`
	}
	var data map[string]group
	readShared(t, "structured.json", &data)
	for kind, g := range data {
		for _, s := range g.String.Valid {
			if _, err := homecare.ParsePersonIDAt(s, fixedNow); err != nil {
				t.Errorf("%s valid %q: %v", kind, s, err)
			}
		}
		for _, s := range g.String.Invalid {
			if p, err := homecare.ParsePersonIDAt(s, fixedNow); err == nil {
				t.Errorf("%s invalid %q: parsed as %q", kind, s, p)
			}
		}
		// The integers are 12-digit numbers (0 is the one invalid non-number).
		for _, n := range g.Integer.Valid {
			if _, err := homecare.ParsePersonIDAt(itoa(n), fixedNow); err != nil {
				t.Errorf("%s valid integer %d: %v", kind, n, err)
			}
		}
		for _, n := range g.Integer.Invalid {
			if p, err := homecare.ParsePersonIDAt(itoa(n), fixedNow); err == nil {
				t.Errorf("%s invalid integer %d: parsed as %q", kind, n, p)
			}
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestParsePersonIDInterim: the reserve (interim) numbers of the shared test data parse as
// Reservnummer in all four forms, to the same 12 characters, with the sex the data gives;
// the ones marked invalid do not.
func TestParsePersonIDInterim(t *testing.T) {
	t.Parallel()
	var list []struct {
		listEntry
		IsFemale bool `json:"isFemale"`
	}
	readShared(t, "interim.json", &list)
	for _, e := range list {
		for _, s := range []string{e.LongFormat, e.ShortFormat, e.SeparatedFormat, e.SeparatedLong} {
			p, err := homecare.ParsePersonIDAt(s, fixedNow)
			switch {
			case !e.Valid && err == nil:
				t.Errorf("invalid interim number %q parsed as %q", s, p)
			case !e.Valid:
			case err != nil:
				t.Errorf("interim number %q: %v", s, err)
			case p.Type() != homecare.Reservnummer || p.Reveal() != e.LongFormat:
				t.Errorf("interim number %q = %s %q, want reservnummer %q", s, p.Type(), p.Reveal(), e.LongFormat)
			case (p.Sex() == homecare.SexFemale) != e.IsFemale:
				t.Errorf("interim number %q: sex %s, female %v", s, p.Sex(), e.IsFemale)
			}
		}
	}
}

func TestParsePersonIDAt(t *testing.T) {
	t.Parallel()
	jan1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// newYear is 2025-12-31 23:30 in UTC and in a zone behind it, but already 2026-01-01
	// 00:30 in Stockholm: the date the century and the future are decided by.
	newYear := time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC)
	newYearWest := newYear.In(time.FixedZone("UTC-5", -5*3600))
	midJune := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      string
		now     time.Time
		want    string
		typ     homecare.PersonIDType
		sex     homecare.Sex
		birth   string
		wantErr string
	}{
		{name: "long", in: "194001042383", now: jan1, want: "194001042383", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "1940-01-04"},
		{name: "long separated", in: "19400104-2383", now: jan1, want: "194001042383", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "1940-01-04"},
		{name: "long plus", in: "19090527+1474", now: jan1, want: "190905271474", typ: homecare.Personnummer, sex: homecare.SexMale, birth: "1909-05-27"},
		{name: "short dash", in: "400104-2383", now: jan1, want: "194001042383", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "1940-01-04"},
		{name: "short plain", in: "4001042383", now: jan1, want: "194001042383", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "1940-01-04"},
		{name: "short plus", in: "090527+1474", now: jan1, want: "190905271474", typ: homecare.Personnummer, sex: homecare.SexMale, birth: "1909-05-27"},
		{name: "short this century", in: "0002292399", now: jan1, want: "200002292399", typ: homecare.Personnummer, sex: homecare.SexMale, birth: "2000-02-29"},
		{name: "samordningsnummer", in: "730288-9931", now: jan1, want: "197302889931", typ: homecare.Samordningsnummer, sex: homecare.SexMale, birth: "1973-02-28"},
		{name: "samordningsnummer long", in: "202107919967", now: jan1, want: "202107919967", typ: homecare.Samordningsnummer, sex: homecare.SexFemale, birth: "2021-07-31"},
		// Born 2018-07-02: before that date in 2018 the short form meant 1918.
		{name: "birthday not yet this century", in: "180702-2395", now: time.Date(2018, 7, 1, 0, 0, 0, 0, time.UTC), want: "191807022395", typ: homecare.Personnummer, sex: homecare.SexMale, birth: "1918-07-02"},
		{name: "birthday today", in: "180702-2395", now: time.Date(2018, 7, 2, 0, 0, 0, 0, time.UTC), want: "201807022395", typ: homecare.Personnummer, sex: homecare.SexMale, birth: "2018-07-02"},
		// '+' from 1 January of the year the person turns 100, whatever the birthday.
		{name: "plus in the year of 100th birthday", in: "401231+2387", now: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), want: "194012312387", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "1940-12-31"},
		{name: "dash the year before", in: "401231-2387", now: time.Date(2039, 12, 31, 0, 0, 0, 0, time.UTC), want: "194012312387", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "1940-12-31"},

		{name: "empty", in: "", now: jan1, wantErr: "personnummer: want 10 or 12 digits"},
		{name: "nine digits", in: "400104238", now: jan1, wantErr: "personnummer: want 10 or 12 digits"},
		{name: "space separator", in: "19090527 1474", now: jan1, wantErr: "personnummer: want 10 or 12 digits"},
		{name: "letter", in: "4001042A83", now: jan1, wantErr: "personnummer: want 10 or 12 digits"},
		{name: "separator misplaced", in: "40010-42383", now: jan1, wantErr: "personnummer: want 10 or 12 digits"},
		// Reserve numbers (personnummer/meta testdata/interim.json; see also TestReservnummer).
		{name: "reserve number", in: "20000101-T220", now: jan1, want: "20000101T220", typ: homecare.Reservnummer, sex: homecare.SexFemale, birth: "2000-01-01"},
		{name: "reserve number, no separator", in: "20000101N220", now: jan1, want: "20000101N220", typ: homecare.Reservnummer, sex: homecare.SexFemale, birth: "2000-01-01"},
		{name: "reserve number, short", in: "000101T220", now: jan1, want: "20000101T220", typ: homecare.Reservnummer, sex: homecare.SexFemale, birth: "2000-01-01"},
		{name: "reserve number, short separated", in: "000101-R220", now: jan1, want: "20000101R220", typ: homecare.Reservnummer, sex: homecare.SexFemale, birth: "2000-01-01"},
		{name: "reserve number, letter E", in: "20000101-E221", now: jan1, wantErr: "personnummer: reserve number: the letter must be one of TRSUWXJKLMN"},
		{name: "reserve number, letter P (dropped from the test data in 2023)", in: "20000101-P220", now: jan1, wantErr: "personnummer: reserve number: the letter must be one of TRSUWXJKLMN"},
		{name: "reserve number, lower-case letter", in: "20000101-t220", now: jan1, wantErr: "personnummer: want 10 or 12 digits"},
		{name: "reserve number, check digit", in: "20000101-T221", now: jan1, wantErr: "personnummer: check digit does not match"},
		// Constructed (check digit computed with the letter as 1): 30 February, and a
		// samordningsnummer's day, which a reserve number does not have.
		{name: "reserve number, no such date", in: "20000230-T224", now: jan1, wantErr: "personnummer: no such date"},
		{name: "reserve number, day + 60", in: "20000161-T227", now: jan1, wantErr: "personnummer: reserve number: no such date"},
		{name: "reserve number born in the future", in: "20991231-T223", now: jan1, wantErr: "personnummer: birth date in the future"},
		{name: "reserve number born today in Stockholm", in: "20260101-T220", now: newYear, want: "20260101T220", typ: homecare.Reservnummer, sex: homecare.SexFemale, birth: "2026-01-01"},

		// Issue 9: the century of a 10-digit number comes from the Stockholm date. At
		// 2025-12-31 23:30 UTC it is already 2026-01-01 in Stockholm. These numbers are
		// constructed (valid check digits, not official test numbers) for the dates.
		// 261231+... is 1926, not 1826 (the '+' counts from Stockholm's year, 2026).
		{name: "century by the Stockholm date, plus", in: "261231+2385", now: newYear, want: "192612312385", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "1926-12-31"},
		// 260101-... was born today: 2026, not 1926 (a different client).
		{name: "century by the Stockholm date, dash", in: "260101-2384", now: newYear, want: "202601012384", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "2026-01-01"},
		{name: "century by the Stockholm date, no separator", in: "2601012384", now: newYear, want: "202601012384", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "2026-01-01"},
		{name: "century by the Stockholm date, now west of UTC", in: "260101-2384", now: newYearWest, want: "202601012384", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "2026-01-01"},
		// 261231-... is a century ago by either date (a control: the new year does not move it).
		{name: "century by the Stockholm date, 31 December", in: "261231-2385", now: newYear, want: "192612312385", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "1926-12-31"},

		// Issue 9: a birth date after the Stockholm date of now is refused in every form
		// (constructed numbers, as above).
		{name: "birth date in the future", in: "202612312385", now: jan1, wantErr: "personnummer: birth date in the future"},
		{name: "birth date in the future, separated", in: "20261231-2385", now: jan1, wantErr: "personnummer: birth date in the future"},
		{name: "born today in Stockholm, yesterday in UTC", in: "202601012384", now: newYear, want: "202601012384", typ: homecare.Personnummer, sex: homecare.SexFemale, birth: "2026-01-01"},
		{name: "born tomorrow in Stockholm", in: "202601022383", now: newYear, wantErr: "personnummer: birth date in the future"},
		// A samordningsnummer with month 00 (only the year known) or day 00 (year and month):
		// what is known decides.
		{name: "samordningsnummer, year in the future", in: "202600602383", now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), wantErr: "personnummer: birth date in the future"},
		{name: "samordningsnummer, this year, month unknown", in: "202600602383", now: jan1, want: "202600602383", typ: homecare.Samordningsnummer, sex: homecare.SexFemale, birth: "0001-01-01"},
		{name: "samordningsnummer, month in the future", in: "202607602386", now: midJune, wantErr: "personnummer: birth date in the future"},
		{name: "samordningsnummer, this month, day unknown", in: "202606602387", now: midJune, want: "202606602387", typ: homecare.Samordningsnummer, sex: homecare.SexFemale, birth: "0001-01-01"},
		{name: "bad check digit", in: "194001042384", now: jan1, wantErr: "personnummer: check digit does not match"},
		{name: "birth number 000 (list.json)", in: "201509160006", now: jan1, wantErr: "personnummer: birth number must be 001-999"},
		{name: "month 13", in: "194013042389", now: jan1, wantErr: "personnummer: no such date"},
		{name: "feb 29 non-leap", in: "190102292380", now: jan1, wantErr: "personnummer: no such date"},
		{name: "coordination bad check (DOMAIN.md §5.1)", in: "193901829913", now: jan1, wantErr: "personnummer: check digit does not match"},
		{name: "coordination month 00", in: "191500722390", now: jan1, want: "191500722390", typ: homecare.Samordningsnummer, sex: homecare.SexMale, birth: "0001-01-01"},
		{name: "coordination day 00", in: "191711602399", now: jan1, want: "191711602399", typ: homecare.Samordningsnummer, sex: homecare.SexMale, birth: "0001-01-01"},
		{name: "coordination 31 April", in: "192004912388", now: jan1, want: "192004912388", typ: homecare.Samordningsnummer, sex: homecare.SexFemale, birth: "0001-01-01"},
		{name: "coordination month 13", in: "191513722395", now: jan1, wantErr: "personnummer: no such date"},
		{name: "coordination day 92", in: "191501922395", now: jan1, wantErr: "personnummer: no such date"},
		{name: "personnummer day 00", in: "194001002387", now: jan1, wantErr: "personnummer: no such date"},
		{name: "personnummer month 00", in: "194000042384", now: jan1, wantErr: "personnummer: no such date"},
		{name: "personnummer 31 April", in: "194004312387", now: jan1, wantErr: "personnummer: no such date"},
		{name: "birth number 000", in: "202611230001", now: jan1, wantErr: "personnummer: birth number must be 001-999"},
		{name: "century 21", in: "214001042383", now: jan1, wantErr: "personnummer: century must be 18, 19 or 20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := homecare.ParsePersonIDAt(tt.in, tt.now)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParsePersonIDAt(%q) = %q, want error %q", tt.in, p, tt.wantErr)
				}
				if err.Error() != tt.wantErr {
					t.Errorf("ParsePersonIDAt(%q) error = %q, want %q", tt.in, err, tt.wantErr)
				}
				var pe *homecare.PersonIDError
				if !errors.As(err, &pe) {
					t.Errorf("error %T is not a *PersonIDError", err)
				}
				if !p.IsZero() {
					t.Errorf("failed parse returned non-zero %q", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePersonIDAt(%q): %v", tt.in, err)
			}
			got := struct {
				S, Birth string
				Type     homecare.PersonIDType
				Sex      homecare.Sex
			}{p.Reveal(), p.BirthDate().Format(time.DateOnly), p.Type(), p.Sex()}
			want := struct {
				S, Birth string
				Type     homecare.PersonIDType
				Sex      homecare.Sex
			}{tt.want, tt.birth, tt.typ, tt.sex}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParsePersonIDAt(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestPersonIDErrorsHideInput checks that no error message repeats any digits of the input.
func TestPersonIDErrorsHideInput(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"194001042384", "194013042389", "202611230001", "214001042383", "19400104x2383", "400104-238"} {
		_, err := homecare.ParsePersonID(in)
		if err == nil {
			t.Fatalf("ParsePersonID(%q) succeeded", in)
		}
		if strings.ContainsAny(err.Error(), "0123456789") && !strings.Contains(err.Error(), "001-999") && !strings.Contains(err.Error(), "10 or 12") && !strings.Contains(err.Error(), "18, 19 or 20") {
			t.Errorf("ParsePersonID(%q) error %q contains digits", in, err)
		}
		if strings.Contains(err.Error(), in[:6]) {
			t.Errorf("ParsePersonID(%q) error %q contains the input", in, err)
		}
	}
}

func TestPersonIDMethods(t *testing.T) {
	t.Parallel()
	p, err := homecare.ParsePersonID("19400104-2383")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"String", p.String(), "19400104-****"},
		{"Reveal", p.Reveal(), "194001042383"},
		{"Sprint", fmt.Sprint(p), "19400104-****"},
		{"%s %v %+v %q", fmt.Sprintf("%s %v %+v %q", p, p, p, p), `19400104-**** 19400104-**** 19400104-**** "19400104-****"`},
		{"in a struct", fmt.Sprintf("%v", struct{ ID homecare.PersonID }{p}), "{19400104-****}"},
		{"in an error", fmt.Errorf("client %s", p).Error(), "client 19400104-****"},
		{"Masked", p.Masked(), "19400104-****"},
		{"GoString", p.GoString(), `homecare.PersonID("19400104-****")`},
		{"LogValue", p.LogValue().String(), "19400104-****"},
		{"Sex", p.Sex().String(), "female"},
		{"zero String", homecare.PersonID{}.String(), ""},
		{"zero Masked", homecare.PersonID{}.Masked(), ""},
		{"zero Sex", homecare.PersonID{}.Sex().String(), "unknown"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if p.IsZero() || !(homecare.PersonID{}).IsZero() {
		t.Error("IsZero wrong")
	}
	if !(homecare.PersonID{}).BirthDate().IsZero() {
		t.Error("zero PersonID has a birth date")
	}
}

// TestReservnummer: a reserve number is a PersonID of its own type that keeps its letter,
// masks like the others, round-trips through text and JSON and is no official test number.
func TestReservnummer(t *testing.T) {
	t.Parallel()
	p, err := homecare.ParsePersonID("20000101-T220")
	if err != nil {
		t.Fatal(err)
	}
	q, err := homecare.ParsePersonIDAt(p.Reveal(), fixedNow)
	if err != nil {
		t.Fatalf("re-parse of %s: %v", p, err)
	}
	b, err := p.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var u homecare.PersonID
	if err := u.UnmarshalText(b); err != nil {
		t.Fatal(err)
	}
	typ, err := p.Type().MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var ut homecare.PersonIDType
	if err := ut.UnmarshalText(typ); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"Type", p.Type().String(), "reservnummer"},
		{"Reveal", p.Reveal(), "20000101T220"},
		{"Masked", p.Masked(), "20000101-****"},
		{"String", fmt.Sprint(p), "20000101-****"},
		{"GoString", fmt.Sprintf("%#v", p), `homecare.PersonID("20000101-****")`},
		{"LogValue", p.LogValue().String(), "20000101-****"},
		{"BirthDate", p.BirthDate().Format(time.DateOnly), "2000-01-01"},
		{"BirthYear", itoa(int64(p.BirthYear())), "2000"},
		{"Sex", p.Sex().String(), "female"},
		{"IsOfficialTestNumber", strconv.FormatBool(homecare.IsOfficialTestNumber(p)), "false"},
		{"MarshalText", string(b), "20000101T220"},
		{"round trip of Reveal", q.Reveal() + " " + q.Type().String(), "20000101T220 reservnummer"},
		{"round trip of MarshalText", u.Reveal() + " " + u.Type().String(), "20000101T220 reservnummer"},
		{"PersonIDType round trip", ut.String(), "reservnummer"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if q != p || u != p {
		t.Errorf("round trips give %q and %q, want %q", q.Reveal(), u.Reveal(), p.Reveal())
	}

	type doc struct {
		ID   homecare.PersonID     `json:"id"`
		Type homecare.PersonIDType `json:"type"`
	}
	j, err := json.Marshal(doc{p, p.Type()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(j), `{"id":"20000101T220","type":"reservnummer"}`; got != want {
		t.Errorf("json.Marshal = %s, want %s", got, want)
	}
	var d doc
	if err := json.Unmarshal(j, &d); err != nil || d.ID != p || d.Type != homecare.Reservnummer {
		t.Errorf("json.Unmarshal(%s) = %+v, %v", j, d, err)
	}
	// An invalid reserve number fails decoding without echoing it.
	if err := json.Unmarshal([]byte(`{"id":"20000101-E221"}`), &d); err == nil {
		t.Error("json.Unmarshal of a reserve number with letter E succeeded")
	} else if strings.Contains(err.Error(), "20000101") {
		t.Errorf("json.Unmarshal error %q leaks the number", err)
	}
}

func TestPersonIDJSON(t *testing.T) {
	t.Parallel()
	type doc struct {
		ID   homecare.PersonID     `json:"id"`
		Type homecare.PersonIDType `json:"type"`
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"id":"19400104-2383","type":"personnummer"}`), &d); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"id":"194001042383","type":"personnummer"}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	for _, in := range []string{`{"id":"194001042384"}`, `{"id":""}`, `{"type":"pseudo"}`} {
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", in)
		} else if strings.Contains(err.Error(), "19400104") {
			t.Errorf("Unmarshal(%s) error %q leaks the number", in, err)
		}
	}
}

func FuzzParsePersonID(f *testing.F) {
	for _, s := range []string{"194001042383", "400104-2383", "090527+1474", "19090527+1474", "4001042383", "730288-9931", "202611230001", "20000101-T220", "000101T220", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := homecare.ParsePersonIDAt(s, fixedNow)
		if err != nil {
			if !p.IsZero() {
				t.Fatalf("error with non-zero result %q", p)
			}
			return
		}
		q, err := homecare.ParsePersonIDAt(p.Reveal(), fixedNow)
		if err != nil || q != p {
			t.Fatalf("round trip of %q: got %q, %v", p, q, err)
		}
		if len(p.Reveal()) != 12 || p.Masked()[:8] != p.Reveal()[:8] {
			t.Fatalf("bad normal form %q / %q", p, p.Masked())
		}
		if p.Sex() == homecare.SexUnknown {
			t.Fatalf("valid %q has unknown sex", p)
		}
	})
}
