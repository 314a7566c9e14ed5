package homecare

import (
	"fmt"
	"strings"
)

// parseEnum returns the value of values that equals b, or an error naming the enum (what)
// and listing the allowed values. The input is not quoted: a value in the wrong field may be
// anything the sender had, a name or a personnummer as likely as a misspelt code.
func parseEnum[T ~string](b []byte, what string, values ...T) (T, error) {
	for _, v := range values {
		if string(b) == string(v) {
			return v, nil
		}
	}
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	return "", fmt.Errorf("%s: unknown value (want %s)", what, strings.Join(names, ", "))
}

// checkEnum is parseEnum for a value built in Go code rather than decoded.
func checkEnum[T ~string](v T, what string, values ...T) error {
	_, err := parseEnum([]byte(v), what, values...)
	return err
}
