package homecare_test

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

var update = flag.Bool("update", false, "rewrite officialtestnumbers.gz from the shared test data")

const officialTestNumbersFile = "officialtestnumbers.gz"

// officialTestNumbersText renders the embedded file's content from the shared lists: two
// comment lines, then the sorted unique numbers as differences to the previous one.
func officialTestNumbersText(t *testing.T) string {
	t.Helper()
	var pins, coords []string
	readShared(t, "allPins.json", &pins)
	readShared(t, "allCoords.json", &coords)
	var nums []uint64
	for _, s := range append(pins, coords...) {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		nums = append(nums, n)
	}
	slices.Sort(nums)
	nums = slices.Compact(nums)
	var b strings.Builder
	b.WriteString("# Skatteverket Testpersonnummer and test samordningsnummer (open data), via github.com/personnummer/meta@c44a844af66b3a810a72f4b0206d21489bf6f52d testdata/allPins.json + allCoords.json (MIT)\n")
	b.WriteString("# " + strconv.Itoa(len(nums)) + " sorted 12-digit numbers; each line is the difference to the previous number\n")
	var prev uint64
	for _, n := range nums {
		b.WriteString(strconv.FormatUint(n-prev, 10))
		b.WriteByte('\n')
		prev = n
	}
	return b.String()
}

// TestOfficialTestNumbersFile checks that the embedded list is exactly allPins ∪ allCoords;
// run with -update to regenerate it.
func TestOfficialTestNumbersFile(t *testing.T) {
	want := officialTestNumbersText(t)
	if *update {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(zw, want); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(officialTestNumbersFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(officialTestNumbersFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date with the shared test data; run go test -run TestOfficialTestNumbersFile -update", officialTestNumbersFile)
	}
}

func TestIsOfficialTestNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"194001042383", true},
		{"189001019802", true},  // first in allPins
		{"197302889931", false}, // valid samordningsnummer in list.json, but not a test number
		{"195704289999", false}, // valid, not in the official list
		{"200100612381", true},  // test samordningsnummer
	}
	for _, tt := range tests {
		p, err := homecare.ParsePersonID(tt.in)
		if err != nil {
			t.Fatalf("ParsePersonID(%q): %v", tt.in, err)
		}
		if got := homecare.IsOfficialTestNumber(p); got != tt.want {
			t.Errorf("IsOfficialTestNumber(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if homecare.IsOfficialTestNumber(homecare.PersonID{}) {
		t.Error("IsOfficialTestNumber(zero) = true")
	}
}

func TestOfficialTestPersonIDs(t *testing.T) {
	t.Parallel()
	ids := homecare.OfficialTestPersonIDs()
	var counts = map[homecare.PersonIDType]int{}
	var sexes = map[homecare.Sex]int{}
	seen := map[homecare.PersonID]bool{}
	for _, p := range ids {
		if !homecare.IsOfficialTestNumber(p) {
			t.Errorf("%s is not an official test number", p.Masked())
		}
		if seen[p] {
			t.Errorf("duplicate %s", p.Masked())
		}
		seen[p] = true
		counts[p.Type()]++
		sexes[p.Sex()]++
	}
	want := map[homecare.PersonIDType]int{homecare.Personnummer: 39, homecare.Samordningsnummer: 6}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("types mismatch (-want +got):\n%s", diff)
	}
	if sexes[homecare.SexMale] < 15 || sexes[homecare.SexFemale] < 15 {
		t.Errorf("unbalanced sexes: %v", sexes)
	}
	ids[0] = homecare.PersonID{}
	if homecare.OfficialTestPersonIDs()[0].IsZero() {
		t.Error("OfficialTestPersonIDs returns shared storage")
	}
}

// TestOfficialTestPersonIDsBorn: the staff's numbers are official test personnummer of the
// years asked, none a samordningsnummer or a demo client, distinct, and the same every time.
func TestOfficialTestPersonIDsBorn(t *testing.T) {
	clients := map[homecare.PersonID]bool{}
	for _, p := range homecare.OfficialTestPersonIDs() {
		clients[p] = true
	}
	got := homecare.OfficialTestPersonIDsBorn(1970, 1979, 14)
	if len(got) != 14 {
		t.Fatalf("got %d numbers, want 14", len(got))
	}
	seen := map[homecare.PersonID]bool{}
	for i, p := range got {
		digits := p.Reveal()
		year, _ := strconv.Atoi(digits[:4])
		day, _ := strconv.Atoi(digits[6:8])
		switch {
		case !homecare.IsOfficialTestNumber(p):
			t.Errorf("%d: not an official test number", i)
		case year != 1970+i%10:
			t.Errorf("%d: born %d, want %d", i, year, 1970+i%10)
		case day > 31:
			t.Errorf("%d: a samordningsnummer", i)
		case clients[p] || seen[p]:
			t.Errorf("%d: a demo client's number or given twice", i)
		}
		seen[p] = true
	}
	if again := homecare.OfficialTestPersonIDsBorn(1970, 1979, 14); !slices.Equal(again, got) {
		t.Error("a second call gave other numbers")
	}
}
