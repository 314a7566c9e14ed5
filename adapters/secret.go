package adapters

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret is a reference to a secret in adapter config, never the secret
// itself: "env:NAME" reads the environment variable NAME, "file:/path" reads a
// file (trailing newline trimmed). Its String and GoString never reveal the
// value, so a Secret is safe to log or print in errors.
type Secret string

// String returns the reference, never the value.
func (s Secret) String() string { return string(s) }

// GoString keeps %#v as safe as %v.
func (s Secret) GoString() string { return fmt.Sprintf("adapters.Secret(%q)", string(s)) }

// IsZero reports whether no secret is configured.
func (s Secret) IsZero() bool { return s == "" }

// Validate checks the reference form without resolving it.
func (s Secret) Validate() error {
	switch {
	case s == "":
		return errors.New("is required")
	case strings.HasPrefix(string(s), "env:") && len(s) > len("env:"):
		return nil
	case strings.HasPrefix(string(s), "file:") && len(s) > len("file:"):
		return nil
	}
	return fmt.Errorf("must be env:NAME or file:/path, not a literal secret")
}

// SecretError is a secret reference that could not be resolved. An adapter
// that needs the secret cannot open; the hub keeps that adapter's pipeline
// out of service (not ready, naming Ref) and runs the others.
type SecretError struct {
	Ref Secret
	Err error
}

func (e *SecretError) Error() string { return fmt.Sprintf("secret %q: %v", string(e.Ref), e.Err) }

func (e *SecretError) Unwrap() error { return e.Err }

// SecretResolver resolves Secret references to their values; its errors
// are *SecretError.
type SecretResolver interface {
	Resolve(s Secret) (string, error)
}

// EnvSecrets resolves env: references from the process environment and file:
// references from the file system.
type EnvSecrets struct{}

// Resolve implements SecretResolver. Errors name the reference, never a value.
func (EnvSecrets) Resolve(s Secret) (string, error) {
	if err := s.Validate(); err != nil {
		return "", &SecretError{s, err}
	}
	ref := string(s)
	if name, ok := strings.CutPrefix(ref, "env:"); ok {
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", &SecretError{s, fmt.Errorf("environment variable %s is not set", name)}
		}
		return v, nil
	}
	path := strings.TrimPrefix(ref, "file:")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", &SecretError{s, errors.Unwrap(err)}
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// MapSecrets resolves references from a fixed map, for tests and the demo.
type MapSecrets map[Secret]string

// Resolve implements SecretResolver.
func (m MapSecrets) Resolve(s Secret) (string, error) {
	v, ok := m[s]
	if !ok {
		return "", &SecretError{s, errors.New("not found")}
	}
	return v, nil
}
