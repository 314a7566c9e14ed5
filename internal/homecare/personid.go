package homecare

import (
	"log/slog"
	"strings"
	"time"
)

// PersonIDType says which kind of Swedish person identity number a PersonID is. It is stored
// beside the number because the kinds follow different life cycles (a samordningsnummer or a
// reserve number may later be replaced by a personnummer) and use different OIDs in HSA/RIV
// messages.
type PersonIDType string

// The person identity number kinds that ParsePersonID recognises. IVO's pseudo ids are made
// by the report that needs them (internal/report), never parsed.
const (
	// Personnummer is the number Skatteverket assigns at birth or immigration (OID 1.2.752.129.2.1.3.1).
	Personnummer PersonIDType = "personnummer"
	// Samordningsnummer is the coordination number for people not (yet) registered in
	// Sweden; its birth day is increased by 60 (OID 1.2.752.129.2.1.3.3).
	Samordningsnummer PersonIDType = "samordningsnummer"
	// Reservnummer is a healthcare reserve (interim) number for a person whose
	// personnummer is not known yet: the birth date, a capital letter and three digits,
	// e.g. 20000101-T220 (DOMAIN.md §1.4, §5.1; the letters are reserveLetters). Its last
	// digit is the Luhn check digit with the letter counted as 1, and its second-last digit
	// gives the administrative sex as in a personnummer. It is a distinct identity: when the
	// personnummer becomes known the store links the two (Order's previous_person_id,
	// store.Tx.LinkClient), so the client keeps one history. RIV names the OID
	// 1.2.752.74.9.1 for a national reserve number (DOMAIN.md §5.1); whether a region's
	// letter numbers are national ones is not in the sources, so this type names no OID.
	Reservnummer PersonIDType = "reservnummer"
)

// String returns the type's canonical name, as used in canonical JSON.
func (t PersonIDType) String() string { return string(t) }

// MarshalText writes the canonical name; an unknown value is an error so that a
// zero or corrupted type never reaches a canonical message.
func (t PersonIDType) MarshalText() ([]byte, error) {
	if err := t.valid(); err != nil {
		return nil, err
	}
	return []byte(t), nil
}

// UnmarshalText accepts only the known names, so typos in mappings fail at decode time.
func (t *PersonIDType) UnmarshalText(b []byte) error {
	v := PersonIDType(b)
	if err := v.valid(); err != nil {
		return err
	}
	*t = v
	return nil
}

func (t PersonIDType) valid() error {
	switch t {
	case Personnummer, Samordningsnummer, Reservnummer:
		return nil
	}
	return &PersonIDError{Reason: "unknown person id type"}
}

// Sex is the administrative sex derived from a person identity number ("administrativt kön"):
// an odd birth number means man, an even one woman. The numeric values equal HSA's gender
// codes (0 unknown, 1 man, 2 woman) so they can be sent on unchanged.
type Sex uint8

// The administrative sexes. SexUnknown is only returned for the zero PersonID.
const (
	SexUnknown Sex = 0
	SexMale    Sex = 1
	SexFemale  Sex = 2
)

// String returns "male", "female" or "unknown", for reports and debugging.
func (s Sex) String() string {
	switch s {
	case SexMale:
		return "male"
	case SexFemale:
		return "female"
	}
	return "unknown"
}

// PersonIDError reports why a string is not a valid person identity number. It deliberately
// holds no part of the input: the input is personal data, and errors are logged and stored.
type PersonIDError struct {
	// Reason is a short lower-case explanation such as "check digit does not match".
	Reason string
}

// Error returns "personnummer: " followed by the reason.
func (e *PersonIDError) Error() string { return "personnummer: " + e.Reason }

// PersonID is a validated Swedish personnummer, samordningsnummer or reserve number,
// normalised to 12 characters (YYYYMMDDNNNC; a reserve number YYYYMMDDLNNN with its letter).
// The zero value means "no person id". PersonID is comparable, so it can be a map key. Its
// String method returns the masked form: ask Reveal for the number.
type PersonID struct {
	digits string // exactly 12 ASCII characters, or "" for the zero value
	typ    PersonIDType
}

// ParsePersonID parses s as ParsePersonIDAt does at the current time (its Europe/Stockholm
// date). Code with a clock of its own (a mapping's, the store's) calls ParsePersonIDAt.
func ParsePersonID(s string) (PersonID, error) {
	return ParsePersonIDAt(s, time.Now())
}

// ParsePlausiblePersonID parses s as ParsePersonIDAt does but lets a birth date in the
// future pass: for the log masker, which must hide anything that may be a person's number,
// and for a number read back from the store, which was checked when it came in and must
// stay readable whatever the reader's clock says.
func ParsePlausiblePersonID(s string) (PersonID, error) {
	return parsePersonID(s, time.Now(), false)
}

// ParsePersonIDAt parses a personnummer, samordningsnummer or reserve number in one of the
// forms YYMMDD-NNNC, YYMMDD+NNNC, YYMMDDNNNC, YYYYMMDDNNNC, YYYYMMDD-NNNC or YYYYMMDD+NNNC
// (a reserve number: a letter in place of the first N). now resolves the century of the
// 10-digit forms and is the date a birth date may not be after; passing it makes callers
// with a clock of their own, and tests, deterministic.
//
// Rules (Skatteverket, DOMAIN.md §5.1): the check digit is Luhn (weights 2,1) over YYMMDDNNN;
// the birth number is 001-999; a 12-digit form must have century 18, 19 or 20. A
// personnummer's date must exist. A samordningsnummer adds 60 to the day (days 60-91) and,
// as Skatteverket's own test numbers show, may have month 00, day 00 (60) or a day past the
// month's end when the real date is unknown, so only month 00-12 and day 00-31 are checked.
//
// now is taken as its date in Europe/Stockholm, whatever its location: the hub's server may
// run in UTC, and at 00:30 on New Year's Day in Stockholm it is still the old year in UTC.
// A birth date after that date is refused, in every form (a 10-digit form never resolves to
// one; a samordningsnummer's incomplete date is compared as far as it is known: the year,
// or the year and month). A reserve number (the date, one of the capital letters
// reserveLetters, three digits: 20000101-T220, 20000101T220, 000101-T220 or 000101T220) is
// accepted as Reservnummer and normalised to 20000101T220. Its date must exist (no +60).
//
// Century of the 10-digit forms: with '-' or no separator, the most recent year ending in YY
// whose date is not after now's date. With '+' (the person turns 100 this year or is older),
// the most recent year ending in YY that is at least 100 years before now's year. The '+'
// rule is by year, not by date, because Skatteverket switches to '+' on 1 January of the year
// a person turns 100; "date not in the future, minus 100" would put someone born 31 December
// a century too early during that year. The separator of a 12-digit form is not checked
// against the age, as the 12 digits are authoritative.
func ParsePersonIDAt(s string, now time.Time) (PersonID, error) {
	return parsePersonID(s, now, true)
}

func parsePersonID(s string, now time.Time, refuseFuture bool) (PersonID, error) {
	if p, ok, err := parseReserve(s, now, refuseFuture); ok {
		return p, err
	}
	now = now.In(Stockholm())
	var (
		digits [12]byte // right-aligned; the century is filled in later for 10-digit input
		long   bool     // the input had a century
		plus   bool
	)
	switch len(s) {
	case 10, 12:
		long = len(s) == 12
		for i := 0; i < len(s); i++ {
			if !isDigit(s[i]) {
				return PersonID{}, errFormat()
			}
		}
		copy(digits[12-len(s):], s)
	case 11, 13:
		long = len(s) == 13
		sep := s[len(s)-5]
		if sep != '-' && sep != '+' {
			return PersonID{}, errFormat()
		}
		plus = sep == '+'
		for i := 0; i < len(s); i++ {
			if i != len(s)-5 && !isDigit(s[i]) {
				return PersonID{}, errFormat()
			}
		}
		head := s[:len(s)-5]
		copy(digits[12-len(s)+1:], head)
		copy(digits[8:], s[len(s)-4:])
	default:
		return PersonID{}, errFormat()
	}
	short := digits[2:] // YYMMDDNNNC
	if short[6] == '0' && short[7] == '0' && short[8] == '0' {
		return PersonID{}, &PersonIDError{Reason: "birth number must be 001-999"}
	}
	if luhn(short[:9]) != short[9]-'0' {
		return PersonID{}, &PersonIDError{Reason: "check digit does not match"}
	}

	yy := num2(short[0:2])
	month := num2(short[2:4])
	day := num2(short[4:6])
	typ := Personnummer
	minMonthDay := 1
	if day >= 60 {
		// Skatteverket lets a samordningsnummer carry an incomplete or unverified birth date:
		// month 00, day 00 (written 60), or a day up to 31 in any month. 170 of the 2,264
		// official test samordningsnummer do, so only the ranges are checked.
		typ = Samordningsnummer
		day -= 60
		minMonthDay = 0
	}
	if month < minMonthDay || month > 12 || day < minMonthDay || day > 31 {
		return PersonID{}, &PersonIDError{Reason: "no such date"}
	}

	var year int
	if long {
		century := num2(digits[0:2])
		if century < 18 || century > 20 {
			return PersonID{}, &PersonIDError{Reason: "century must be 18, 19 or 20"}
		}
		year = century*100 + yy
	} else {
		ny, nm, nd := now.Date()
		// Largest year <= ny that ends in yy.
		year = ny - ((ny-yy)%100+100)%100
		if plus {
			for year > ny-100 {
				year -= 100
			}
		} else if month > int(nm) || (month == int(nm) && day > nd) {
			if year == ny {
				year -= 100
			}
		}
		c := year / 100
		digits[0] = byte('0' + c/10)
		digits[1] = byte('0' + c%10)
	}
	if typ == Personnummer && !dateExists(year, month, day) {
		return PersonID{}, &PersonIDError{Reason: "no such date"}
	}
	if refuseFuture && bornAfter(year, month, day, now) {
		return PersonID{}, &PersonIDError{Reason: "birth date in the future"}
	}
	return PersonID{digits: string(digits[:]), typ: typ}, nil
}

// bornAfter reports whether a birth date is after now's date; month or day 0 (a
// samordningsnummer's unknown part) compares what is known.
func bornAfter(year, month, day int, now time.Time) bool {
	ny, nm, nd := now.Date()
	switch {
	case year != ny:
		return year > ny
	case month == 0 || month != int(nm):
		return month > int(nm)
	}
	return day > nd
}

// reserveLetters are the letters a reserve (interim) number carries in place of the birth
// number's first digit: those of the personnummer project's interim test data
// (personnummer/meta testdata/interim.json at c44a844: 20000101-T220 … N220 valid,
// 20000101-E221 invalid). P was in that list until the project removed it in March 2023,
// and is refused here too. Reserve numbers are healthcare's (DOMAIN.md §5.1), not
// Skatteverket's, and there is no official list of them.
const reserveLetters = "TRSUWXJKLMN"

// parseReserve parses a reserve number in the personnummer forms with a letter in the birth
// number's first place (YYYYMMDD-T220, YYYYMMDDT220, YYMMDD-T220, YYMMDDT220). The check
// digit is computed with the letter counted as 1: the rule the personnummer project's
// libraries apply and its data follows (every valid number there checks by it, the invalid
// one does not). ok is false when s has no capital letter there, so the caller parses it as
// a number.
func parseReserve(s string, now time.Time, refuseFuture bool) (p PersonID, ok bool, err error) {
	i := len(s) - 4 // the letter's place: the first of the last four
	if i < 6 || len(s) < 10 || len(s) > 13 {
		return PersonID{}, false, nil
	}
	c := s[i]
	if c < 'A' || c > 'Z' {
		return PersonID{}, false, nil // digits, or not a reserve number at all: the number's errors
	}
	if !strings.ContainsRune(reserveLetters, rune(c)) {
		return PersonID{}, true, &PersonIDError{Reason: "reserve number: the letter must be one of " + reserveLetters}
	}
	d, err := parsePersonID(s[:i]+"1"+s[i+1:], now, refuseFuture)
	if err != nil {
		return PersonID{}, true, err
	}
	if d.typ != Personnummer {
		return PersonID{}, true, &PersonIDError{Reason: "reserve number: no such date"}
	}
	b := []byte(d.digits)
	b[8] = c
	return PersonID{digits: string(b), typ: Reservnummer}, true, nil
}

func errFormat() error { return &PersonIDError{Reason: "want 10 or 12 digits"} }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func num2(b []byte) int { return int(b[0]-'0')*10 + int(b[1]-'0') }

// luhn returns the modulus-10 check digit of ds with weights 2,1,2,… from the left.
func luhn(ds []byte) byte {
	sum := 0
	for i, c := range ds {
		v := int(c - '0')
		if i%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return byte((10 - sum%10) % 10)
}

func dateExists(year, month, day int) bool {
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	return t.Year() == year && int(t.Month()) == month && t.Day() == day
}

// String returns the masked form (see Masked), so that a person id in a format string, an
// error or a log line never shows the full number. Code that needs the number asks for it
// with Reveal, which is easy to find in review.
func (p PersonID) String() string { return p.Masked() }

// Reveal returns the full 12-character form YYYYMMDDNNNC (a reserve number's YYYYMMDDLNNN),
// or "" for the zero value: for the store's keys, a vendor's message and a person who may
// see it. Never log it.
func (p PersonID) Reveal() string { return p.digits }

// Type reports whether p is a personnummer, a samordningsnummer or a reserve number ("" for
// the zero value).
func (p PersonID) Type() PersonIDType { return p.typ }

// IsZero reports whether p is the zero value, i.e. no person id.
func (p PersonID) IsZero() bool { return p.digits == "" }

// BirthDate returns the date of birth at midnight UTC; for a samordningsnummer the 60 is
// subtracted from the day. It returns the zero time for the zero PersonID and for a
// samordningsnummer whose date is incomplete or not a calendar date (month 00, day 00, or
// e.g. 30 February), because Skatteverket issues those when the real date is unknown; use
// BirthYear, which is always known, for age calculations in that case.
func (p PersonID) BirthDate() time.Time {
	if p.IsZero() {
		return time.Time{}
	}
	b := []byte(p.digits)
	year, month, day := p.BirthYear(), num2(b[4:6]), num2(b[6:8])
	if p.typ == Samordningsnummer {
		day -= 60
	}
	if !dateExists(year, month, day) {
		return time.Time{}
	}
	return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
}

// BirthYear returns the four-digit year of birth (0 for the zero PersonID).
func (p PersonID) BirthYear() int {
	if p.IsZero() {
		return 0
	}
	b := []byte(p.digits[:4])
	return num2(b[0:2])*100 + num2(b[2:4])
}

// Sex returns the administrative sex from the birth number's last digit (odd man, even woman);
// for a reserve number from the same position, the second of its digits (T220: woman). That
// is the gender digit rule DOMAIN.md §5.1 cites for IVO's pseudo ids, Socialstyrelsen's
// "administrativt kön" counts reserve numbers among the numbers it derives from, and the
// personnummer project's interim data gives T220 … N220 as female.
func (p PersonID) Sex() Sex {
	if p.IsZero() {
		return SexUnknown
	}
	if (p.digits[10]-'0')%2 == 1 {
		return SexMale
	}
	return SexFemale
}

// Masked returns the number with its birth number and check digit hidden, e.g.
// "19400104-****", for logs, errors and support screens. The birth date (with the +60 of a
// samordningsnummer) is kept because it lets support staff tell records apart while the
// full number cannot be recovered. The zero value masks to "".
func (p PersonID) Masked() string {
	if p.IsZero() {
		return ""
	}
	return p.digits[:8] + "-****"
}

// GoString returns the masked form, so that %#v in a debug print does not leak the number.
func (p PersonID) GoString() string { return `homecare.PersonID("` + p.Masked() + `")` }

// LogValue makes log/slog print the masked form, a second line of defence behind the
// masking logger.
func (p PersonID) LogValue() slog.Value { return slog.StringValue(p.Masked()) }

// MarshalText writes the 12-character form (Reveal), which is what canonical JSON and the
// store use.
func (p PersonID) MarshalText() ([]byte, error) { return []byte(p.digits), nil }

// UnmarshalText parses any form ParsePersonID accepts, so that decoding validates; the
// birth date is checked against the current Europe/Stockholm date, as an encoding
// interface has no room for a clock. Empty text is an error: an absent person id is
// expressed by leaving the field out.
func (p *PersonID) UnmarshalText(b []byte) error {
	v, err := ParsePersonID(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
