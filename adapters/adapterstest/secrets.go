package adapterstest

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// logCapture records every log entry an adapter writes, at every level.
type logCapture struct {
	core zapcore.Core
	logs *observer.ObservedLogs
}

func newLogCapture() *logCapture {
	core, logs := observer.New(zapcore.DebugLevel)
	return &logCapture{core: core, logs: logs}
}

// option tees the adapter's logger into the capture.
func (c *logCapture) option() zap.Option {
	return zap.WrapCore(func(base zapcore.Core) zapcore.Core { return zapcore.NewTee(base, c.core) })
}

// text renders every captured entry with its fields and the logger's
// accumulated context.
func (c *logCapture) text() string {
	var b strings.Builder
	for _, e := range c.logs.AllUntimed() {
		enc := zapcore.NewMapObjectEncoder()
		for _, f := range e.Context {
			f.AddTo(enc)
		}
		fmt.Fprintf(&b, "%s %s %s %v\n", e.Level, e.LoggerName, e.Message, enc.Fields)
	}
	return b.String()
}

// checkNoSecrets is case 9: neither the logs nor any error may contain a
// secret value, the kit's canary or one the vendor declared.
func checkNoSecrets(t *testing.T, v Vendor, logs *logCapture, errs []error) {
	t.Helper()
	values := []string{Canary}
	if sh, ok := v.(SecretHolder); ok {
		for _, val := range sh.Secrets() {
			values = append(values, val)
		}
	}
	logText := logs.text()
	for _, val := range values {
		if len(val) < 4 {
			t.Errorf("secret %q is too short to search for; use a longer test secret", val)
			continue
		}
		if strings.Contains(logText, val) {
			t.Errorf("a secret value appears in the logs:\n%s", logText)
		}
		for _, err := range errs {
			if s := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(s, val) {
				t.Errorf("a secret value appears in error %q", err)
			}
		}
	}
}
