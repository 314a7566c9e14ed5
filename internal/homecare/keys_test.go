package homecare_test

import (
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// TestKeyWindowOpens: the dates, Nuki's weekday bits (Mon=64 … Sun=1) and the daily
// minutes, a window across midnight included, in the lock's zone.
func TestKeyWindowOpens(t *testing.T) {
	loc := homecare.Stockholm()
	at := func(s string) time.Time {
		t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			panic(err)
		}
		return t
	}
	mins := func(m int) *int { return &m }
	until := at("2026-12-31 23:59")
	tests := []struct {
		name string
		w    homecare.KeyWindow
		at   string
		want bool
	}{
		{"inside the dates", homecare.KeyWindow{ValidFrom: at("2026-12-01 00:00"), ValidUntil: &until}, "2026-12-15 12:00", true},
		{"before them", homecare.KeyWindow{ValidFrom: at("2026-12-01 00:00")}, "2026-11-30 23:59", false},
		{"after them", homecare.KeyWindow{ValidFrom: at("2026-12-01 00:00"), ValidUntil: &until}, "2027-01-01 00:00", false},
		{"a weekday in the mask (Tue 2026-12-01 = 32)", homecare.KeyWindow{ValidFrom: at("2026-11-01 00:00"), Weekdays: 64 | 32}, "2026-12-01 08:00", true},
		{"a weekday not in it", homecare.KeyWindow{ValidFrom: at("2026-11-01 00:00"), Weekdays: 64}, "2026-12-01 08:00", false},
		{"Sunday is 1", homecare.KeyWindow{ValidFrom: at("2026-11-01 00:00"), Weekdays: 1}, "2026-12-06 08:00", true},
		{"inside the daily minutes", homecare.KeyWindow{ValidFrom: at("2026-11-01 00:00"), DailyFromMin: mins(420), DailyUntilMin: mins(1320)}, "2026-12-01 07:00", true},
		{"outside them", homecare.KeyWindow{ValidFrom: at("2026-11-01 00:00"), DailyFromMin: mins(420), DailyUntilMin: mins(1320)}, "2026-12-01 06:59", false},
		{"a night window after midnight", homecare.KeyWindow{ValidFrom: at("2026-11-01 00:00"), DailyFromMin: mins(1320), DailyUntilMin: mins(420)}, "2026-12-01 03:00", true},
		{"a night window in the day", homecare.KeyWindow{ValidFrom: at("2026-11-01 00:00"), DailyFromMin: mins(1320), DailyUntilMin: mins(420)}, "2026-12-01 12:00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.w.Opens(at(tt.at), loc); got != tt.want {
				t.Errorf("Opens(%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

// TestKeyWindowEqual: every day and all day are one window however they are written.
func TestKeyWindowEqual(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	zero, seven := 0, 420
	tests := []struct {
		name string
		a, b homecare.KeyWindow
		want bool
	}{
		{"every day as 0 and as 127", homecare.KeyWindow{ValidFrom: from}, homecare.KeyWindow{ValidFrom: from, Weekdays: 127}, true},
		{"all day as none and as 0-0", homecare.KeyWindow{ValidFrom: from}, homecare.KeyWindow{ValidFrom: from, DailyFromMin: &zero, DailyUntilMin: &zero}, true},
		{"weekdays differ", homecare.KeyWindow{ValidFrom: from, Weekdays: 124}, homecare.KeyWindow{ValidFrom: from}, false},
		{"the daily window differs", homecare.KeyWindow{ValidFrom: from}, homecare.KeyWindow{ValidFrom: from, DailyFromMin: &seven, DailyUntilMin: &seven}, false},
		{"the start differs", homecare.KeyWindow{ValidFrom: from}, homecare.KeyWindow{ValidFrom: from.Add(time.Hour)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Equal(tt.b); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}
