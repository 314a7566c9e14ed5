package logging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.uber.org/multierr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/logging"
)

// Official test numbers (Skatteverket open data): a personnummer and a samordningsnummer.
const (
	pnr = "194001042383"
	con = "197302889931"
)

// leaks lists every written form of the two numbers that must never reach a log line.
var leaks = []string{
	pnr, pnr[2:], "400104-2383", "19400104-2383", "400104+2383",
	con, con[2:], "730288-9931", "19730288-9931",
	"Anna", "Andersson", "Testgatan",
}

type stringer string

func (s stringer) String() string { return string(s) }

type visitLog struct {
	ExternalID string `json:"external_id"`
	PersonID   string `json:"person_id"`
	Number     int64  `json:"number"`
	GivenName  string `json:"given_name"`
}

func (v visitLog) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("external_id", v.ExternalID)
	enc.AddString("person_id", v.PersonID)
	enc.AddInt64("number", v.Number)
	enc.AddString("given_name", v.GivenName)
	_ = enc.AddArray("ids", zapcore.ArrayMarshalerFunc(func(a zapcore.ArrayEncoder) error {
		a.AppendString(pnr)
		a.AppendInt64(4001042383)
		return a.AppendObject(zapcore.ObjectMarshalerFunc(func(o zapcore.ObjectEncoder) error {
			o.AddString("deep", "x "+con+" y")
			return o.AddReflected("any", map[string]any{"family_name": "Andersson", "pnr": pnr})
		}))
	}))
	return nil
}

// verboseError imitates github.com/pkg/errors: %+v prints more than Error().
type verboseError struct{ msg string }

func (e verboseError) Error() string { return e.msg }
func (e verboseError) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') {
		_, _ = io.WriteString(s, e.msg+"\nstack: handle "+pnr)
		return
	}
	_, _ = io.WriteString(s, e.msg)
}

func TestMasking(t *testing.T) {
	t.Parallel()
	id, err := homecare.ParsePersonID(pnr)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		log    func(l *zap.Logger)
		keep   []string // non-personal data that must survive
		masked []string // masked forms that must appear
	}{
		{name: "message", log: func(l *zap.Logger) { l.Info("client 400104-2383 visited, order ORD-20261123-0001") },
			keep: []string{"ORD-20261123-0001"}, masked: []string{"client 400104-**** visited"}},
		{name: "message forms", log: func(l *zap.Logger) {
			l.Info("a=" + pnr + " b=" + pnr[2:] + " c=19400104-2383 d=400104+2383 e=x" + con + "y f=730288-9931")
		}, masked: []string{"a=19400104-**** b=400104-**** c=19400104-**** d=400104+**** e=x19730288-****y f=730288-****"}},
		{name: "string field", log: func(l *zap.Logger) {
			l.Info("visit", zap.String("person_id", pnr), zap.String("order", "ORD-20261123-0001"), zap.String("ref", "1234567890"))
		}, keep: []string{"ORD-20261123-0001", "1234567890"}, masked: []string{`19400104-****`}},
		{name: "error field", log: func(l *zap.Logger) {
			l.Warn("lookup", zap.Error(fmt.Errorf("client 400104-2383: %w", errors.New("not found"))))
		},
			keep: []string{"not found"}, masked: []string{"client 400104-****: not found"}},
		{name: "error group", log: func(l *zap.Logger) {
			l.Warn("batch", zap.Error(multierr.Combine(errors.New("row 1: "+pnr), errors.New("row 2: "+con))))
		}, keep: []string{"errorCauses", "row 2"}, masked: []string{"row 1: 19400104-****", "row 2: 19730288-****"}},
		{name: "verbose error", log: func(l *zap.Logger) { l.Warn("rich", zap.Error(verboseError{"bad " + con})) },
			keep: []string{"errorVerbose", "stack: handle"}, masked: []string{"bad 19730288-****"}},
		{name: "named error", log: func(l *zap.Logger) { l.Info("x", zap.NamedError("cause", errors.New(pnr))) }},
		{name: "map", log: func(l *zap.Logger) {
			l.Info("m", zap.Any("m", map[string]any{
				"person_id": pnr, "number": int64(194001042383), "float": 194001042383.0,
				"nested":      map[string]any{"list": []any{pnr[2:], "ORD-20261123-0001", map[string]any{"client_name": "Anna"}}},
				"given_name":  "Anna",
				con:           "key is a person id",
				"address":     map[string]any{"street": "Testgatan 1", "city": "Solna"},
				"epoch":       1763891234,
				"not_luhn_10": 1234567890,
			}))
		}, keep: []string{"ORD-20261123-0001", "1763891234", "1234567890", "key is a person id"}, masked: []string{"19400104-****", "19730288-****", `***`}},
		{name: "struct", log: func(l *zap.Logger) {
			l.Info("s", zap.Any("visit", visitLog{ExternalID: "TES-1", PersonID: pnr, Number: 194001042383, GivenName: "Anna"}))
		}, keep: []string{"TES-1"}, masked: []string{"19400104-****"}},
		{name: "object marshaler nested", log: func(l *zap.Logger) {
			l.Info("o", zap.Object("visit", visitLog{ExternalID: "TES-1", PersonID: pnr, Number: 194001042383, GivenName: "Anna"}))
		}, keep: []string{"TES-1"}, masked: []string{"19400104-****", "19730288-****"}},
		{name: "inline", log: func(l *zap.Logger) { l.Info("o", zap.Inline(visitLog{ExternalID: "TES-2", PersonID: pnr})) },
			keep: []string{"TES-2"}},
		{name: "stringer", log: func(l *zap.Logger) { l.Info("s", zap.Stringer("p", stringer("pid="+pnr))) },
			masked: []string{"pid=19400104-****"}},
		{name: "person id value", log: func(l *zap.Logger) { l.Info("p", zap.Any("client", id), zap.Stringer("s", id)) },
			masked: []string{"19400104-****"}},
		{name: "strings and ints", log: func(l *zap.Logger) {
			l.Info("a", zap.Strings("ids", []string{pnr, "ORD-20261123-0001"}), zap.Int64("n", 194001042383), zap.Int("m", 4001042383),
				zap.Int64s("ns", []int64{194001042383, 42}), zap.Uint64("u", 197302889931), zap.Float64("f", 4001042383))
		}, keep: []string{"ORD-20261123-0001", "42"}},
		{name: "bytes", log: func(l *zap.Logger) {
			l.Info("b", zap.ByteString("raw", []byte(`{"pnr":"`+pnr+`"}`)), zap.Binary("bin", []byte("x")))
		}},
		{name: "name keys", log: func(l *zap.Logger) {
			l.Info("n", zap.String("name", "Anna"), zap.String("client_name", "Anna Andersson"), zap.String("FamilyName", "Andersson"),
				zap.String("clientEmail", "anna@example.se"), zap.Int("phone", 701234567), zap.Any("Address", map[string]string{"street": "Testgatan 1"}),
				zap.Strings("given_name", []string{"Anna"}), zap.String("hostname", "node-1"), zap.String("pipeline", "tes_visits"))
		}, keep: []string{"node-1", "tes_visits", `"hostname"`}},
		{name: "namespace", log: func(l *zap.Logger) {
			l.Info("ns", zap.String("order", "ORD-1"), zap.Namespace("address"), zap.String("city", "Testgatan"))
		}, keep: []string{"ORD-1"}},
		{name: "with", log: func(l *zap.Logger) {
			l.With(zap.String("person_id", pnr), zap.String("given_name", "Anna")).Info("scoped", zap.String("order", "ORD-20261123-0001"))
		}, keep: []string{"ORD-20261123-0001"}, masked: []string{"19400104-****"}},
		{name: "with namespace", log: func(l *zap.Logger) {
			l.With(zap.Namespace("client_address")).Info("later", zap.String("city", "Testgatan"))
		}},
		{name: "error level stack", log: func(l *zap.Logger) { l.Error("failed for "+pnr, zap.String("k", "v")) }},
		{name: "sugar", log: func(l *zap.Logger) { l.Sugar().Infow("sugared "+con, "pnr", pnr, "given_name", "Anna") }},
	}
	for _, format := range []logging.Format{logging.FormatJSON, logging.FormatConsole} {
		for _, tt := range tests {
			t.Run(string(format)+"/"+tt.name, func(t *testing.T) {
				var buf bytes.Buffer
				l, err := logging.New(logging.Options{Format: format, Output: &buf})
				if err != nil {
					t.Fatal(err)
				}
				tt.log(l)
				out := buf.String()
				if out == "" {
					t.Fatal("nothing logged")
				}
				for _, leak := range leaks {
					if strings.Contains(out, leak) {
						t.Errorf("output contains %q:\n%s", leak, out)
					}
				}
				for _, k := range tt.keep {
					if !strings.Contains(out, k) {
						t.Errorf("output lost %q:\n%s", k, out)
					}
				}
				for _, m := range tt.masked {
					if !strings.Contains(out, m) {
						t.Errorf("output lacks masked %q:\n%s", m, out)
					}
				}
				if format == logging.FormatJSON {
					for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
						if !json.Valid([]byte(line)) {
							t.Errorf("invalid JSON line: %s", line)
						}
					}
				}
			})
		}
	}
}

func TestMaskString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"no digits", "no digits"},
		{pnr, "19400104-****"},
		{"19400104-2383", "19400104-****"},
		{"id:4001042383;", "id:400104-****;"},
		{"400104+2383", "400104+****"},
		// Reserve numbers, and a number born in the future, are masked too (issue 9).
		{"reserv 20000101-T220 och 20000101T220", "reserv 20000101-**** och 20000101-****"},
		{"framtid 202612312385", "framtid 20261231-****"},
		{"ordernr 20000101-X99", "ordernr 20000101-X99"},
		{"ORD-20261123-0001", "ORD-20261123-0001"}, // birth number 000
		{"1234567890", "1234567890"},               // not Luhn
		{"11940010423830", "11940010423830"},       // 14 digits: some other number
		{"1940010423831", "1940010423831"},         // 13 digits
		{"194001042383-5", "19400104-****-5"},      // 12 digits then more
		{"x19400104-23831", "x19400104-23831"},     // 5 digits after the separator
		{"2026-11-23T07:02:00Z", "2026-11-23T07:02:00Z"},
		{"a 400104 2383", "a 400104 ****"},
		{"pnr 19400104 2383.", "pnr 19400104 ****."},
		{"2026-11-23 1234", "2026-11-23 1234"}, // a date and a number
		{"20261123 1234", "20261123 1234"},     // not Luhn
		// A samordningsnummer (day + 60) from Skatteverket's test list
		// (../shared/ext/personnummer/allCoords.json), in every form.
		{"191403702390", "19140370-****"},
		{"19140370-2390", "19140370-****"},
		{"19140370 2390", "19140370 ****"},
		{"1403702390", "140370-****"},
		{"140370-2390", "140370-****"},
		{"140370+2390", "140370+****"},
		{"140370 2390", "140370 ****"},
		// A message id is no personnummer, though a run of it reads as one by chance;
		// a number beside an id still is.
		{"message 01a23ff3-689e-73f9-aba4-4803157488c3: body", "message 01a23ff3-689e-73f9-aba4-4803157488c3: body"},
		{"01a23ff3-689e-73f9-aba4-4803157488c3 194001042383", "01a23ff3-689e-73f9-aba4-4803157488c3 19400104-****"},
	}
	for _, tt := range tests {
		if got := logging.MaskString(tt.in); got != tt.want {
			t.Errorf("MaskString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMaskStringAllPins masks a sample of official test numbers in every written form.
func TestMaskStringOfficial(t *testing.T) {
	t.Parallel()
	for _, p := range homecare.OfficialTestPersonIDs() {
		s := p.Reveal()
		for _, tt := range []struct{ in, want string }{
			{s, p.Masked()},
			{s[:8] + "-" + s[8:], p.Masked()},
			{s[2:8] + "-" + s[8:], s[2:8] + "-****"},
			{s[2:8] + "+" + s[8:], s[2:8] + "+****"},
			{s[2:], s[2:8] + "-****"},
			{s[:8] + " " + s[8:], s[:8] + " ****"},
			{s[2:8] + " " + s[8:], s[2:8] + " ****"},
		} {
			if got := logging.MaskString("[" + tt.in + "]"); got != "["+tt.want+"]" {
				t.Errorf("MaskString(%s form) = %q, want [%s]", p.Masked(), got, tt.want)
			}
		}
	}
}

func TestSensitiveKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want bool
	}{
		{"name", true}, {"NAME", true}, {"given_name", true}, {"family_name", true}, {"first_name", true},
		{"last_name", true}, {"client_name", true}, {"clientName", true}, {"address", true}, {"client.address", true},
		{"street", true}, {"phone", true}, {"email", true}, {"staff-email", true}, {"surname", true}, {"door_code", true},
		{"namn", true}, {"fornamn", true}, {"förnamn", true}, {"Efternamn", true}, {"tilltalsnamn", true},
		{"adress", true}, {"gatuadress", true}, {"postAdress", true}, {"telefon", true}, {"mobiltelefon", true},
		{"anhorigTelefonnummer", true}, {"mobilnummer", true}, {"epost", true}, {"e-post", true},
		{"personnummer", true}, {"samordningsnummer", true}, {"portkod", true}, {"nyckelkod", true},
		{"key_box", true}, {"nyckelgomma", true}, {"nyckelgömma", true}, {"reservnummer", true}, {"tidigareId", true},
		{"lock_ref", true}, {"risk_notes", true}, {"risker", true},
		{"kod", false}, {"lasId", false}, {"insats", false}, {"beslutsdatum", false}, {"utforare", false},
		{"hostname", false}, {"username", false}, {"pipeline", false}, {"msg_id", false}, {"err", false}, {"ipaddress", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := logging.SensitiveKey(tt.key); got != tt.want {
			t.Errorf("SensitiveKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	if _, err := logging.New(logging.Options{Format: "xml"}); err == nil || err.Error() != `logging: unknown format "xml" (want json or console)` {
		t.Errorf("New(xml) error = %v", err)
	}
	var buf bytes.Buffer
	l, err := logging.New(logging.Options{Output: &buf, Level: zapcore.WarnLevel})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown"`) {
		t.Errorf("level filtering wrong:\n%s", out)
	}
	if l.Level() != zapcore.WarnLevel {
		t.Errorf("Level() = %v, want warn", l.Level())
	}
	logging.NewNop().Info("nothing " + pnr)
	logging.ForTest(t).Debug("to t.Output " + pnr)
}

func BenchmarkMaskingCore(b *testing.B) {
	fields := []zap.Field{zap.String("msg_id", "01JD3K2V8E4Q"), zap.String("pipeline", "tes_visits"), zap.Int("attempt", 2), zap.Duration("took", 1234)}
	for _, bm := range []struct {
		name string
		core func(zapcore.Core) zapcore.Core
	}{
		{"plain", func(c zapcore.Core) zapcore.Core { return c }},
		{"masking", logging.NewMaskingCore},
	} {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		l := zap.New(bm.core(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel)))
		b.Run(bm.name+"/primitive", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Info("message delivered to sink", fields...)
			}
		})
		b.Run(bm.name+"/personnummer", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Info("visit for "+pnr, zap.String("person_id", pnr), zap.String("order", "ORD-20261123-0001"))
			}
		})
		b.Run(bm.name+"/error_and_map", func(b *testing.B) {
			b.ReportAllocs()
			err := errors.New("lookup failed")
			m := map[string]any{"a": 1, "b": "two"}
			for b.Loop() {
				l.Info("complex", zap.Error(err), zap.Any("m", m))
			}
		})
	}
}
