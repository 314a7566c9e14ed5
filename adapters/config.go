package adapters

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// DecodeConfig decodes data strictly into a new config from newConfig (its
// defaults stay where data is silent) and validates it. Unknown keys and
// type mismatches fail with the YAML line; validation problems are reported
// all at once. Empty data yields the defaults, validated.
func DecodeConfig(newConfig func() Config, data []byte) (Config, error) {
	cfg := newConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ConfigOf asserts that cfg has the adapter's own config type C. Open
// functions use it to turn the registry's Config back into their own type.
func ConfigOf[C Config](cfg Config) (C, error) {
	c, ok := cfg.(C)
	if !ok {
		var zero C
		return zero, fmt.Errorf("config is %T, want %T", cfg, zero)
	}
	return c, nil
}
