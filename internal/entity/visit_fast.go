package entity

import (
	"encoding"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
)

// decodeVisitFast decodes a canonical visit as decodeStrict does, several
// times faster, for the JSON a mapping writes: exact keys, each once, no
// escapes, no nulls, integers as plain digits. It reports false for
// anything else, including any value a field refuses, and the caller then
// runs decodeStrict, whose result and error are the contract; so this only
// ever returns what decodeStrict would.
func decodeVisitFast(body []byte, v *homecare.Visit) bool {
	if !utf8.Valid(body) {
		return false
	}
	d := fastJSON{b: body}
	ok := d.object(func(key string) bool {
		switch key {
		case "source_system":
			return d.str(&v.SourceSystem)
		case "external_id":
			return d.str(&v.ExternalID)
		case "client":
			return d.object(func(key string) bool {
				switch key {
				case "person_id":
					return d.text(&v.Client.PersonID)
				case "person_id_type":
					return d.text(&v.Client.PersonIDType)
				}
				return false
			})
		case "provider_id":
			return d.str(&v.ProviderID)
		case "unit_id":
			return d.str(&v.UnitID)
		case "planned_visit_ref":
			return d.str(&v.PlannedVisitRef)
		case "start_at":
			return d.time(&v.StartAt)
		case "end_at":
			return d.time(&v.EndAt)
		case "device_start_at":
			return d.time(&v.DeviceStartAt)
		case "device_end_at":
			return d.time(&v.DeviceEndAt)
		case "local_date":
			return d.text(&v.LocalDate)
		case "duration_minutes":
			return d.int(&v.DurationMinutes)
		case "recorded_offline":
			return d.bool(&v.RecordedOffline)
		case "start_method":
			return d.text(&v.StartMethod)
		case "end_method":
			return d.text(&v.EndMethod)
		case "start_tag_uid":
			return d.str(&v.StartTagUID)
		case "end_tag_uid":
			return d.str(&v.EndTagUID)
		case "status":
			return d.text(&v.Status)
		case "outside_home":
			return d.bool(&v.OutsideHome)
		case "is_extra":
			return d.bool(&v.IsExtra)
		case "staff":
			v.Staff = []homecare.VisitStaff{}
			return d.array(func() bool {
				var st homecare.VisitStaff
				ok := d.object(func(key string) bool {
					switch key {
					case "hsa_id":
						var s string
						ok := d.str(&s)
						st.HSAID = homecare.HSAID(s)
						return ok
					case "staff_ref":
						return d.str(&st.StaffRef)
					case "role":
						return d.text(&st.Role)
					}
					return false
				})
				v.Staff = append(v.Staff, st)
				return ok
			})
		case "version":
			return d.int(&v.Version)
		case "flags":
			v.Flags = []homecare.VisitFlag{}
			return d.array(func() bool {
				var f string
				ok := d.str(&f)
				v.Flags = append(v.Flags, homecare.VisitFlag(f))
				return ok
			})
		case "insatser":
			v.Insatser = []homecare.VisitInsats{}
			return d.array(func() bool {
				var in homecare.VisitInsats
				ok := d.object(func(key string) bool {
					switch key {
					case "code":
						return d.str(&in.Code)
					case "minutes":
						in.Minutes = new(int)
						return d.int(in.Minutes)
					case "declined":
						return d.bool(&in.Declined)
					case "declined_reason":
						return d.str(&in.DeclinedReason)
					case "double_staffed":
						return d.bool(&in.DoubleStaffed)
					}
					return false
				})
				v.Insatser = append(v.Insatser, in)
				return ok
			})
		}
		return false
	})
	d.ws()
	return ok && d.i == len(d.b)
}

// fastJSON reads the plain subset of JSON decodeVisitFast accepts; every
// method reports false where encoding/json might decide otherwise.
type fastJSON struct {
	b []byte
	i int
}

func (d *fastJSON) ws() { d.i = jsonscan.SkipWS(d.b, d.i) }

// rawStr reads a string without escapes and returns its contents.
func (d *fastJSON) rawStr() ([]byte, bool) {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	end, esc, err := jsonscan.ScanString(d.b, d.i)
	if err != nil || esc {
		return nil, false
	}
	s := d.b[d.i+1 : end]
	d.i = end + 1
	return s, true
}

func (d *fastJSON) str(dst *string) bool {
	s, ok := d.rawStr()
	*dst = string(s)
	return ok
}

func (d *fastJSON) text(dst encoding.TextUnmarshaler) bool {
	s, ok := d.rawStr()
	return ok && dst.UnmarshalText(s) == nil
}

func (d *fastJSON) time(dst *time.Time) bool {
	d.ws()
	start := d.i
	if _, ok := d.rawStr(); !ok {
		return false
	}
	return dst.UnmarshalJSON(d.b[start:d.i]) == nil
}

// int reads an integer: a JSON number that strconv.Atoi takes whole (no
// fraction, no exponent, within int).
func (d *fastJSON) int(dst *int) bool {
	d.ws()
	end, err := jsonscan.ScanNumber(d.b, d.i)
	if err != nil {
		return false
	}
	v, err := strconv.Atoi(string(d.b[d.i:end]))
	if err != nil {
		return false
	}
	*dst, d.i = v, end
	return true
}

func (d *fastJSON) bool(dst *bool) bool {
	d.ws()
	switch {
	case jsonscan.HasLit(d.b, d.i, "true"):
		*dst, d.i = true, d.i+4
	case jsonscan.HasLit(d.b, d.i, "false"):
		*dst, d.i = false, d.i+5
	default:
		return false
	}
	return true
}

func (d *fastJSON) punct(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads an object, calling member for each key with the reader at
// its value. A key seen twice is refused (encoding/json merges repeats).
func (d *fastJSON) object(member func(key string) bool) bool {
	if !d.punct('{') {
		return false
	}
	if d.punct('}') {
		return true
	}
	var seen [32]string
	n := 0
	for {
		k, ok := d.rawStr()
		if !ok || !d.punct(':') {
			return false
		}
		for _, s := range seen[:n] {
			if s == string(k) {
				return false
			}
		}
		if n == len(seen) {
			return false
		}
		seen[n] = string(k)
		n++
		if !member(seen[n-1]) {
			return false
		}
		if d.punct(',') {
			continue
		}
		return d.punct('}')
	}
}

func (d *fastJSON) array(elem func() bool) bool {
	if !d.punct('[') {
		return false
	}
	if d.punct(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.punct(',') {
			continue
		}
		return d.punct(']')
	}
}
