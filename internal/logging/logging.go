// Package logging builds Knutpunkt's zap loggers. Every logger it returns masks personal data
// in every line: person ids (personnummer, samordningsnummer) anywhere in the message or in
// fields of any type, and the values of name, address, phone and e-mail fields
// (ARCHITECTURE.md §5). Build one logger in main and pass it down; never use zap's globals.
package logging

import (
	"fmt"
	"io"
	"os"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Format is the log line encoding.
type Format string

// The formats.
const (
	// FormatJSON is one JSON object per line, for production and log shippers. The default.
	FormatJSON Format = "json"
	// FormatConsole is zap's human-readable development format.
	FormatConsole Format = "console"
)

// Options configures New. The zero value logs JSON at info level to stderr.
type Options struct {
	// Format is "json" (default) or "console".
	Format Format
	// Level is the minimum level logged; nil means info. Pass a zap.AtomicLevel to change it
	// at run time.
	Level zapcore.LevelEnabler
	// Output receives the log lines; nil means os.Stderr. Writes are serialised.
	Output io.Writer
}

// New returns a logger writing to opts.Output through the masking core (NewMaskingCore).
// Lines carry the caller; error and higher carry a (masked) stack trace.
func New(opts Options) (*zap.Logger, error) {
	var enc zapcore.Encoder
	switch opts.Format {
	case FormatJSON, "":
		cfg := zap.NewProductionEncoderConfig()
		cfg.TimeKey = "ts"
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	case FormatConsole:
		enc = zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	default:
		return nil, fmt.Errorf("logging: unknown format %q (want json or console)", opts.Format)
	}
	level := opts.Level
	if level == nil {
		level = zapcore.InfoLevel
	}
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(out)), level)
	return zap.New(NewMaskingCore(core), zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel)), nil
}

// NewNop returns a logger that discards everything, for callers that need a logger but whose
// output nobody reads. Nothing is written, so nothing needs masking.
func NewNop() *zap.Logger { return zap.NewNop() }

// ForTest returns a masking console logger at debug level that writes to t.Output(), so log
// lines appear only when the test fails or runs with -v (STYLE.md §9.10). Do not log through
// it after the test has finished.
func ForTest(t testing.TB) *zap.Logger {
	t.Helper()
	l, err := New(Options{Format: FormatConsole, Level: zapcore.DebugLevel, Output: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
