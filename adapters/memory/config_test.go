package memory_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/memory"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		config  func() adapters.Config
		yaml    string
		wantErr string
	}{
		{"source minimal", memory.NewSourceConfig, "topic: a", ""},
		{"source missing topic", memory.NewSourceConfig, "redelivery_delay: 1s", "topic: is required"},
		{"source negative delay", memory.NewSourceConfig, "topic: a\nredelivery_delay: -1s", "redelivery_delay: must not be negative"},
		{"source bad duration", memory.NewSourceConfig, "topic: a\nredelivery_delay: soon", "line 2: cannot unmarshal"},
		{"sink minimal", memory.NewSinkConfig, "topic: a", ""},
		{"sink missing topic", memory.NewSinkConfig, "", "topic: is required"},
		{"sink has no redelivery", memory.NewSinkConfig, "topic: a\nredelivery_delay: 1s", "unknown key redelivery_delay (known: topic)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := adapters.DecodeConfig(tt.config, []byte(tt.yaml))
			checkErr(t, err, tt.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("error = %v, want nil", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("error = %v, want one containing %q", err, want)
	}
}
