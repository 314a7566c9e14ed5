package homecare_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

func TestDayShares(t *testing.T) {
	loc := homecare.Stockholm()
	at := func(y int, m time.Month, d, h, mi, s int) time.Time { return time.Date(y, m, d, h, mi, s, 0, loc) }
	day := func(s string) homecare.Date {
		d, err := homecare.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name       string
		start, end time.Time
		minutes    int
		rule       homecare.MidnightRule
		want       []homecare.DayShare
	}{
		{"start day keeps the visit whole", at(2026, 11, 3, 22, 0, 0), at(2026, 11, 4, 2, 0, 0), 240, homecare.StartDay,
			[]homecare.DayShare{{Date: day("2026-11-03"), Minutes: 240}}},
		{"no rule is start day", at(2026, 11, 3, 22, 0, 0), at(2026, 11, 4, 2, 0, 0), 240, "",
			[]homecare.DayShare{{Date: day("2026-11-03"), Minutes: 240}}},
		{"split within a day", at(2026, 11, 3, 8, 0, 0), at(2026, 11, 3, 8, 25, 0), 25, homecare.Split,
			[]homecare.DayShare{{Date: day("2026-11-03"), Minutes: 25}}},
		{"split at midnight", at(2026, 11, 3, 22, 0, 0), at(2026, 11, 4, 2, 0, 0), 240, homecare.Split,
			[]homecare.DayShare{{Date: day("2026-11-03"), Minutes: 120}, {Date: day("2026-11-04"), Minutes: 120}}},
		{"ending at midnight has nothing the next day", at(2026, 11, 3, 23, 0, 0), at(2026, 11, 4, 0, 0, 0), 60, homecare.Split,
			[]homecare.DayShare{{Date: day("2026-11-03"), Minutes: 60}}},
		{"seconds are rounded once: the shares add up", at(2026, 11, 3, 22, 0, 40), at(2026, 11, 4, 0, 30, 10), 150, homecare.Split,
			[]homecare.DayShare{{Date: day("2026-11-03"), Minutes: 120}, {Date: day("2026-11-04"), Minutes: 30}}},
		{"the month and year turn", at(2026, 12, 31, 23, 30, 0), at(2027, 1, 1, 0, 45, 0), 75, homecare.Split,
			[]homecare.DayShare{{Date: day("2026-12-31"), Minutes: 30}, {Date: day("2027-01-01"), Minutes: 45}}},
		// 29 March 2026 has 23 hours: 02:00 became 03:00.
		{"spring night: the short day is 23 hours", at(2026, 3, 28, 22, 0, 0), at(2026, 3, 30, 1, 0, 0), 26 * 60, homecare.Split,
			[]homecare.DayShare{{Date: day("2026-03-28"), Minutes: 120}, {Date: day("2026-03-29"), Minutes: 23 * 60}, {Date: day("2026-03-30"), Minutes: 60}}},
		{"spring night: a night visit over the skipped hour", at(2026, 3, 28, 23, 0, 0), at(2026, 3, 29, 4, 0, 0), 240, homecare.Split,
			[]homecare.DayShare{{Date: day("2026-03-28"), Minutes: 60}, {Date: day("2026-03-29"), Minutes: 180}}},
		// 25 October 2026 has 25 hours: 03:00 became 02:00 again.
		{"autumn night: the long day is 25 hours", at(2026, 10, 24, 22, 0, 0), at(2026, 10, 26, 1, 0, 0), 28 * 60, homecare.Split,
			[]homecare.DayShare{{Date: day("2026-10-24"), Minutes: 120}, {Date: day("2026-10-25"), Minutes: 25 * 60}, {Date: day("2026-10-26"), Minutes: 60}}},
		{"autumn night: a night visit over the repeated hour", at(2026, 10, 24, 23, 0, 0), at(2026, 10, 25, 4, 0, 0), 360, homecare.Split,
			[]homecare.DayShare{{Date: day("2026-10-24"), Minutes: 60}, {Date: day("2026-10-25"), Minutes: 300}}},
		{"start day on the autumn night counts the real minutes", at(2026, 10, 24, 23, 0, 0), at(2026, 10, 25, 4, 0, 0), 360, homecare.StartDay,
			[]homecare.DayShare{{Date: day("2026-10-24"), Minutes: 360}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m := int(tt.end.Sub(tt.start).Round(time.Minute) / time.Minute); m != tt.minutes {
				t.Fatalf("test case: %s-%s is %d minutes, not %d", tt.start, tt.end, m, tt.minutes)
			}
			got := homecare.DayShares(tt.start.UTC(), tt.end.UTC(), tt.minutes, tt.rule)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DayShares mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApportion(t *testing.T) {
	d := homecare.Date{Year: 2026, Month: 11, Day: 3}
	tests := []struct {
		name   string
		n      int
		shares []homecare.DayShare
		want   []int
	}{
		{"one share", 20, []homecare.DayShare{{Date: d, Minutes: 240}}, []int{20}},
		{"halves", 20, []homecare.DayShare{{Date: d, Minutes: 120}, {Date: d.AddDays(1), Minutes: 120}}, []int{10, 10}},
		{"rounded once, adds up", 10, []homecare.DayShare{{Date: d, Minutes: 1}, {Date: d.AddDays(1), Minutes: 1}, {Date: d.AddDays(2), Minutes: 1}}, []int{3, 4, 3}},
		{"a visit of no minutes", 5, []homecare.DayShare{{Date: d, Minutes: 0}, {Date: d.AddDays(1), Minutes: 0}}, []int{5, 0}},
		{"no shares", 5, nil, nil},
	}
	for _, tt := range tests {
		if got := homecare.Apportion(tt.n, tt.shares); !cmp.Equal(tt.want, got) {
			t.Errorf("%s: Apportion(%d) = %v, want %v", tt.name, tt.n, got, tt.want)
		}
	}
}

func TestMidnightRuleText(t *testing.T) {
	var r homecare.MidnightRule
	if err := r.UnmarshalText([]byte("split")); err != nil || r != homecare.Split {
		t.Errorf("split: %v, %v", r, err)
	}
	if err := r.UnmarshalText([]byte("startday")); err == nil || err.Error() != "midnight rule: unknown value (want start_day, split)" {
		t.Errorf("startday: %v", err)
	}
}

func TestExecutedDayDigest(t *testing.T) {
	pnr, err := homecare.ParsePersonID("194001042383")
	if err != nil {
		t.Fatal(err)
	}
	d := homecare.ExecutedDay{LocalDate: homecare.Date{Year: 2026, Month: 11, Day: 23}, ProviderID: "omsorg-norr", Minutes: 72}
	same := d
	same.MessageID, same.Version, same.Client = "executed/x/omsorg-norr/2026-11-23/v2", 2, homecare.VisitClient{PersonID: pnr, PersonIDType: pnr.Type()}
	changed := d
	changed.Minutes = 82
	if d.Digest() != same.Digest() {
		t.Error("the digest depends on the message id, version or client")
	}
	if d.Digest() == changed.Digest() {
		t.Error("the digest does not change with the minutes")
	}
}
