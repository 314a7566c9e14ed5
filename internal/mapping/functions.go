package mapping

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Function describes one function that mapping expressions and `fn:` can
// call. The table in mappings/README.md is generated from Functions, so the
// reference cannot drift from the code (go test ./internal/mapping -update
// rewrites it).
type Function struct {
	// Name is what a mapping writes, e.g. "personnummer".
	Name string
	// Signature shows the arguments and result, e.g. "date(s [, layout]) → string".
	Signature string
	// Doc is one or two sentences on what the function accepts and returns.
	Doc string
}

// Functions returns every registered function in name order. The CLI and
// the README generator read it; mappings reach the same functions by name.
func Functions() []Function {
	out := make([]Function, len(functions))
	for i, f := range functions {
		out[i] = f.Function
	}
	slices.SortFunc(out, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// funcDef is a registered function: its documentation, its arity, the
// signatures expr type-checks calls against at load time, and its
// implementation. Every implementation treats a missing argument (nil or
// "") as "no value" and returns nil, so optional source fields flow through
// a chain of functions and end as an omitted output field; `required:` and
// `default:` then decide.
type funcDef struct {
	Function
	minArgs, maxArgs int
	types            []any
	impl             func(fc *funcCtx, args ...any) (any, error)
}

// functions is the registry. Errors never quote the argument: arguments are
// often personal data (personnummer, dates of birth) and errors end up in
// dead letters and logs. lookup is the exception: it names the key, a vendor
// code.
var functions = []funcDef{
	{
		Function: Function{"personnummer", "personnummer(s) → string",
			"Normalises a personnummer or samordningsnummer to 12 digits (YYYYMMDDNNNC) via internal/homecare. Accepts " +
				"YYMMDD-NNNC, YYMMDD+NNNC (+ = 100 years or older), YYMMDDNNNC, YYYYMMDDNNNC and YYYYMMDD-NNNC; a 10-digit form " +
				"gets the most recent century that is not in the future. Fails on wrong length, no such date or a check digit " +
				"that does not match, without quoting the number."},
		minArgs: 1, maxArgs: 1, types: []any{new(func(string) string)},
		impl: (*funcCtx).personnummer,
	},
	{
		Function: Function{"person_id_type", "person_id_type(s) → string",
			"\"personnummer\" or \"samordningsnummer\" (day of birth + 60) for any form personnummer() accepts; fails the same way."},
		minArgs: 1, maxArgs: 1, types: []any{new(func(string) string)},
		impl: (*funcCtx).personIDType,
	},
	{
		Function: Function{"hsaid", "hsaid(s) → string",
			"Validates an HSA-ID: SE + 10 digits + \"-\" + letters/digits, at most 31 characters; test-directory " +
				"prefixes such as TSTNMT2321000156-1024 are accepted too. Returns it trimmed."},
		minArgs: 1, maxArgs: 1, types: []any{new(func(string) string)},
		impl: (*funcCtx).hsaid,
	},
	{
		Function: Function{"taguid", "taguid(s) → string",
			"Normalises an NFC/RFID tag UID to upper-case hex without separators (\"04:a2:24\" → \"04A224\"); fails on non-hex characters."},
		minArgs: 1, maxArgs: 1, types: []any{new(func(string) string)},
		impl: (*funcCtx).taguid,
	},
	{
		Function: Function{"date", "date(s [, layout]) → string",
			"A date as YYYY-MM-DD. Without layout accepts YYYY-MM-DD, YYYYMMDD and every datetime() form; a time with a zone " +
				"is first converted to Europe/Stockholm. layout is a Go time layout, e.g. \"02.01.2006\"."},
		minArgs: 1, maxArgs: 2, types: []any{new(func(any) string), new(func(any, string) string)},
		impl: (*funcCtx).date,
	},
	{
		Function: Function{"datetime", "datetime(s [, layout]) → string",
			"An instant as RFC 3339 UTC (2026-11-23T07:02:00Z). Without layout accepts RFC 3339 with zone or offset, and " +
				"zone-less YYYY-MM-DD[T| ]hh:mm[:ss[.fff]], read as Europe/Stockholm local time. layout is a Go time layout."},
		minArgs: 1, maxArgs: 2, types: []any{new(func(any) string), new(func(any, string) string)},
		impl: (*funcCtx).datetime,
	},
	{
		Function: Function{"earliest", "earliest(s) → string",
			"datetime() for a visit's start: a zone-less local time in the hour repeated when summer time ends is the " +
				"earlier of its two instants (summer time). A zone-less local time in the hour skipped when summer time " +
				"begins does not exist and fails; with an offset every time is that instant."},
		minArgs: 1, maxArgs: 1, types: []any{new(func(any) string)},
		impl: func(fc *funcCtx, args ...any) (any, error) { return fc.instant("earliest", args[0], false) },
	},
	{
		Function: Function{"latest", "latest(s) → string",
			"datetime() for a visit's end: like earliest(), but the later instant (winter time) of a repeated local " +
				"time, which is the one that keeps end ≥ start whenever either does."},
		minArgs: 1, maxArgs: 1, types: []any{new(func(any) string)},
		impl: func(fc *funcCtx, args ...any) (any, error) { return fc.instant("latest", args[0], true) },
	},
	{
		Function: Function{"ambiguous", "ambiguous(s) → bool",
			"true for a zone-less local time that names two instants (the hour repeated when summer time ends); " +
				"false for anything else, a missing value included."},
		minArgs: 1, maxArgs: 1, types: []any{new(func(any) bool)},
		impl: func(fc *funcCtx, args ...any) (any, error) {
			s, ok := text(args[0])
			if !ok {
				return false, nil
			}
			c, _, err := localInstants(s, fc.loc)
			return err == nil && len(c) == 2, nil
		},
	},
	{
		Function: Function{"localdate", "localdate(t) → string",
			"The date (YYYY-MM-DD) of an instant in Europe/Stockholm; t is anything datetime() accepts."},
		minArgs: 1, maxArgs: 1, types: []any{new(func(any) string)},
		impl: (*funcCtx).localdate,
	},
	{
		Function: Function{"minutes", "minutes(x) → int; minutes(start, end) → int",
			"Whole minutes from 45, 45.0, \"45\", \"PT45M\", \"PT1H30M\" or \"1:30\" (h:mm), rounded to the nearest minute; " +
				"with two arguments, the minutes from earliest(start) to latest(end), so a visit across the repeated autumn " +
				"hour counts it. Fails on negative durations and on a local time that does not exist."},
		minArgs: 1, maxArgs: 2, types: []any{new(func(any) int), new(func(any, any) int)},
		impl: (*funcCtx).minutes,
	},
	{
		Function: Function{"lookup", "lookup(table, key [, fallback]) → any",
			"The entry for key in the mapping's lookups.table. An unknown key returns fallback if given and otherwise fails, " +
				"naming the table, the key and the known keys. table must be a literal naming a table of the mapping."},
		minArgs: 2, maxArgs: 3, types: []any{new(func(string, any) any), new(func(string, any, any) any)},
		impl: (*funcCtx).lookup,
	},
	{
		Function: Function{"default", "default(v, fallback) → any",
			"v, or fallback when v is missing (absent, null or \"\")."},
		minArgs: 2, maxArgs: 2, types: []any{new(func(any, any) any)},
		impl: (*funcCtx).fallback,
	},
	{
		Function: Function{"present", "present(v) → bool",
			"true when v has a value (not absent, null or \"\"); for when: conditions."},
		minArgs: 1, maxArgs: 1, types: []any{new(func(any) bool)},
		impl: func(_ *funcCtx, args ...any) (any, error) { return !missing(args[0]), nil },
	},
	{
		Function: Function{"list", "list(s, sep) → list",
			"Splits s at sep, trims each part and drops empty ones; an empty list when s is missing. For packed " +
				"columns such as \"DUSCH:20|FRUKOST:12\", with expr-lang's map()."},
		minArgs: 2, maxArgs: 2, types: []any{new(func(any, string) []any)},
		impl: func(_ *funcCtx, args ...any) (any, error) {
			out := []any{}
			s, ok := text(args[0])
			sep, _ := text(args[1])
			if !ok || sep == "" {
				return out, nil
			}
			for _, part := range strings.Split(s, sep) {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, part)
				}
			}
			return out, nil
		},
	},
	{
		Function: Function{"upper", "upper(s) → string", "s in upper case."},
		minArgs:  1, maxArgs: 1, types: []any{new(func(any) string)},
		impl: func(_ *funcCtx, args ...any) (any, error) { return mapString(args[0], strings.ToUpper), nil },
	},
	{
		Function: Function{"lower", "lower(s) → string", "s in lower case."},
		minArgs:  1, maxArgs: 1, types: []any{new(func(any) string)},
		impl: func(_ *funcCtx, args ...any) (any, error) { return mapString(args[0], strings.ToLower), nil },
	},
	{
		Function: Function{"trim", "trim(s) → string", "s without leading and trailing white space."},
		minArgs:  1, maxArgs: 1, types: []any{new(func(any) string)},
		impl: func(_ *funcCtx, args ...any) (any, error) { return mapString(args[0], strings.TrimSpace), nil },
	},
}

// funcCtx is what the functions of one mapping share: its lookup tables,
// the Europe/Stockholm zone and the clock used to pick the century of
// 10-digit personnummer. It is read-only after load.
type funcCtx struct {
	loc     *time.Location
	lookups map[string]lookupTable
	now     func() time.Time
}

// lookupTable is one entry of a mapping's `lookups:`.
type lookupTable struct {
	entries map[string]any
	keys    []string // sorted, for error messages
}

func funcByName(name string) *funcDef {
	for i := range functions {
		if functions[i].Name == name {
			return &functions[i]
		}
	}
	return nil
}

// text returns v as a string and whether it holds a value: nil and "" do
// not. Numbers and booleans are formatted as JSON would write them.
func text(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, v != ""
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return formatFloat(v), true
	default:
		return fmt.Sprint(v), true
	}
}

// missing reports whether v counts as "no value": nil (absent or JSON
// null), "" (an empty CSV cell or XML element) or an empty list.
func missing(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	}
	return false
}

func mapString(v any, f func(string) string) any {
	s, ok := text(v)
	if !ok {
		return nil
	}
	return f(s)
}

func (fc *funcCtx) personnummer(args ...any) (any, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	// homecare's errors read "personnummer: <reason>" and never hold the number.
	id, err := homecare.ParsePersonIDAt(strings.TrimSpace(s), fc.now())
	if err != nil {
		return nil, err
	}
	return id.Reveal(), nil
}

func (fc *funcCtx) personIDType(args ...any) (any, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	id, err := homecare.ParsePersonIDAt(strings.TrimSpace(s), fc.now())
	if err != nil {
		return nil, err
	}
	return id.Type().String(), nil
}

// hsaid accepts test-environment prefixes: the hub runs against Inera's
// test directory as well as production, and a pipeline that must refuse
// test IDs checks that on the canonical entity.
func (fc *funcCtx) hsaid(args ...any) (any, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	id, err := homecare.ParseHSAID(strings.TrimSpace(s), true)
	if err != nil {
		return nil, err
	}
	return id.String(), nil
}

var errNotHex = errors.New("not hexadecimal")

func (fc *funcCtx) taguid(args ...any) (any, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	b := make([]byte, 0, len(s))
	for _, c := range []byte(strings.TrimSpace(s)) {
		switch {
		case c == ':' || c == '-' || c == ' ' || c == '.':
		case c >= '0' && c <= '9' || c >= 'A' && c <= 'F':
			b = append(b, c)
		case c >= 'a' && c <= 'f':
			b = append(b, c-'a'+'A')
		default:
			return nil, fmt.Errorf("taguid: %w", errNotHex)
		}
	}
	if len(b) == 0 {
		return nil, nil
	}
	return string(b), nil
}

var (
	errNotDate     = errors.New("not a recognised date")
	errNotDatetime = errors.New("not a recognised date and time")
	errNotMinutes  = errors.New("not a number of minutes")
	errNegative    = errors.New("negative duration")
	errEndBefore   = errors.New("end is before start")
)

// parseInstant reads the forms datetime() documents. Zone-less input is
// local time in loc; for the hour that repeats when DST ends, Go picks one
// of the two instants, so vendors should send offsets where they can.
func parseInstant(s string, layout string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if layout != "" {
		return time.ParseInLocation(layout, s, loc)
	}
	if len(s) < 16 || (s[10] != 'T' && s[10] != ' ') {
		return time.Time{}, errNotDatetime
	}
	sep := s[10]
	zoned := s[len(s)-1] == 'Z' || strings.ContainsAny(s[16:], "+-")
	switch {
	case zoned && sep == 'T':
		return time.Parse(time.RFC3339, s)
	case zoned:
		return time.Parse("2006-01-02 15:04:05Z07:00", s)
	case len(s) >= 19 && sep == 'T':
		return time.ParseInLocation("2006-01-02T15:04:05", s, loc)
	case len(s) >= 19:
		return time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	case sep == 'T':
		return time.ParseInLocation("2006-01-02T15:04", s, loc)
	default:
		return time.ParseInLocation("2006-01-02 15:04", s, loc)
	}
}

func layoutArg(args []any) string {
	if len(args) > 1 {
		s, _ := text(args[1])
		return s
	}
	return ""
}

func (fc *funcCtx) datetime(args ...any) (any, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	t, err := parseInstant(s, layoutArg(args), fc.loc)
	if err != nil {
		return nil, fmt.Errorf("datetime: %w", errNotDatetime)
	}
	return t.UTC().Format(time.RFC3339), nil
}

// errNoSuchLocalTime is a zone-less local time in the hour skipped when
// summer time begins.
var errNoSuchLocalTime = errors.New("local time that does not exist (the hour skipped when summer time begins): send it with its offset")

// instant is earliest() and latest(): the instant of s, the later of two
// for a repeated local time when later is set.
func (fc *funcCtx) instant(name string, v any, later bool) (any, error) {
	s, ok := text(v)
	if !ok {
		return nil, nil
	}
	c, _, err := localInstants(s, fc.loc)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", name, err)
	case len(c) == 0:
		return nil, fmt.Errorf("%s: %w", name, errNoSuchLocalTime)
	case later:
		return c[len(c)-1].UTC().Format(time.RFC3339), nil
	}
	return c[0].UTC().Format(time.RFC3339), nil
}

// localInstants reads s as datetime() does and returns the instants it
// names, in order: one for a time with an offset and for most local times,
// two for a local time in a repeated hour, none for one in a skipped hour.
// zoned reports whether s carried its offset.
func localInstants(s string, loc *time.Location) (c []time.Time, zoned bool, err error) {
	t, err := parseInstant(s, "", loc)
	if err != nil {
		return nil, false, errNotDatetime
	}
	s = strings.TrimSpace(s) // parseInstant checked its length and layout
	if s[len(s)-1] == 'Z' || strings.ContainsAny(s[16:], "+-") {
		return []time.Time{t}, true, nil
	}
	// The wall clock read as UTC, then shifted by each offset the zone has
	// a day before and a day after: an offset whose instant shows the same
	// wall clock in loc is a reading of it. Time zones change offset at
	// most once in two days, so these are all the candidates; on the days
	// without a change (all but two a year) both offsets are one, and the
	// time Go parsed is the only reading.
	_, before := t.Add(-24 * time.Hour).In(loc).Zone()
	_, after := t.Add(24 * time.Hour).In(loc).Zone()
	if before == after {
		return []time.Time{t}, false, nil
	}
	wall, err := time.Parse("2006-01-02T15:04:05", s[:10]+"T"+s[11:16]+":"+secondsOf(s))
	if err != nil {
		return nil, false, errNotDatetime
	}
	for _, off := range []int{before, after} {
		cand := wall.Add(-time.Duration(off) * time.Second)
		if sameClock(cand.In(loc), wall) {
			c = append(c, cand)
		}
	}
	slices.SortFunc(c, time.Time.Compare)
	return c, false, nil
}

// sameClock reports whether a and b show the same date and time of day,
// each in its own location.
func sameClock(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	ah, amin, as := a.Clock()
	bh, bmin, bs := b.Clock()
	return ay == by && am == bm && ad == bd && ah == bh && amin == bmin && as == bs
}

// secondsOf is the seconds of a zone-less datetime() string, "00" when it has none.
func secondsOf(s string) string {
	if len(s) >= 19 {
		return s[17:19]
	}
	return "00"
}

func (fc *funcCtx) date(args ...any) (any, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	s = strings.TrimSpace(s)
	var t time.Time
	var err error
	switch layout := layoutArg(args); {
	case layout != "":
		t, err = time.ParseInLocation(layout, s, fc.loc)
	case len(s) == 10:
		t, err = time.ParseInLocation(time.DateOnly, s, fc.loc)
	case len(s) == 8:
		t, err = time.ParseInLocation("20060102", s, fc.loc)
	default:
		t, err = parseInstant(s, "", fc.loc)
	}
	if err != nil {
		return nil, fmt.Errorf("date: %w", errNotDate)
	}
	return t.In(fc.loc).Format(time.DateOnly), nil
}

func (fc *funcCtx) localdate(args ...any) (any, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	t, err := parseInstant(s, "", fc.loc)
	if err != nil {
		return nil, fmt.Errorf("localdate: %w", errNotDatetime)
	}
	return t.In(fc.loc).Format(time.DateOnly), nil
}

func (fc *funcCtx) minutes(args ...any) (any, error) {
	if len(args) == 2 {
		a, okA := text(args[0])
		b, okB := text(args[1])
		if !okA || !okB {
			return nil, nil
		}
		starts, _, err := localInstants(a, fc.loc)
		if err != nil {
			return nil, fmt.Errorf("minutes: start: %w", err)
		}
		ends, _, err := localInstants(b, fc.loc)
		if err != nil {
			return nil, fmt.Errorf("minutes: end: %w", err)
		}
		switch {
		case len(starts) == 0:
			return nil, fmt.Errorf("minutes: start: %w", errNoSuchLocalTime)
		case len(ends) == 0:
			return nil, fmt.Errorf("minutes: end: %w", errNoSuchLocalTime)
		}
		start, end := starts[0], ends[len(ends)-1]
		if end.Before(start) {
			return nil, fmt.Errorf("minutes: %w", errEndBefore)
		}
		return int(end.Sub(start).Round(time.Minute) / time.Minute), nil
	}
	var m float64
	switch v := args[0].(type) {
	case nil:
		return nil, nil
	case int:
		m = float64(v)
	case int64:
		m = float64(v)
	case float64:
		m = v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return nil, nil
		}
		var err error
		if m, err = parseMinutes(s); err != nil {
			return nil, fmt.Errorf("minutes: %w", err)
		}
	default:
		return nil, fmt.Errorf("minutes: %w", errNotMinutes)
	}
	if m < 0 {
		return nil, fmt.Errorf("minutes: %w", errNegative)
	}
	if math.IsNaN(m) || m > math.MaxInt32 {
		return nil, fmt.Errorf("minutes: %w", errNotMinutes)
	}
	return int(math.Round(m)), nil
}

// parseMinutes reads "45", "45.5", "1:30" (h:mm) and ISO 8601 durations
// with hours, minutes and seconds ("PT1H30M", "PT45M", "PT90S").
func parseMinutes(s string) (float64, error) {
	if h, mm, ok := strings.Cut(s, ":"); ok {
		hv, err1 := strconv.Atoi(h)
		mv, err2 := strconv.Atoi(mm)
		if err1 != nil || err2 != nil || len(mm) != 2 || mv > 59 || hv < 0 {
			return 0, errNotMinutes
		}
		return float64(hv*60 + mv), nil
	}
	if rest, ok := strings.CutPrefix(strings.ToUpper(s), "PT"); ok {
		if rest == "" {
			return 0, errNotMinutes
		}
		var total float64
		for rest != "" {
			i := strings.IndexAny(rest, "HMS")
			if i <= 0 {
				return 0, errNotMinutes
			}
			n, err := strconv.ParseFloat(rest[:i], 64)
			if err != nil || n < 0 {
				return 0, errNotMinutes
			}
			switch rest[i] {
			case 'H':
				total += n * 60
			case 'M':
				total += n
			case 'S':
				total += n / 60
			}
			rest = rest[i+1:]
		}
		return total, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, errNotMinutes
	}
	return f, nil
}

func (fc *funcCtx) lookup(args ...any) (any, error) {
	name, _ := args[0].(string)
	t, ok := fc.lookups[name]
	if !ok {
		// Load rejects unknown literal table names; this is a computed one.
		return nil, fmt.Errorf("lookup: no table %q (tables: %s)", name, strings.Join(sortedKeys(fc.lookups), ", "))
	}
	key, ok := text(args[1])
	if !ok {
		return nil, nil
	}
	if v, ok := t.entries[key]; ok {
		return v, nil
	}
	if len(args) == 3 {
		return args[2], nil
	}
	return nil, fmt.Errorf("lookup %s: unknown key (known: %s)", name, strings.Join(t.keys, ", "))
}

func (fc *funcCtx) fallback(args ...any) (any, error) {
	if missing(args[0]) {
		return args[1], nil
	}
	return args[0], nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
