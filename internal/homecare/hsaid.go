package homecare

import "errors"

// HSAID is an identifier from the national HSA directory (staff, units, care providers),
// e.g. "SE2321000016-F835". A person keeps the HSA-ID when the personnummer changes and may
// hold several from different directory owners (DOMAIN.md §4.1).
//
// HSAID is a plain string type without decode-time validation, because whether a test-form
// ID is acceptable depends on the environment: validate with ParseHSAID (or Visit.ValidateWith)
// where that is known.
type HSAID string

// maxHSAIDLen is the directory's limit on an HSA-ID's total length.
const maxHSAIDLen = 31

// ParseHSAID checks s against the HSA-ID format: "SE", the directory owner's 10-digit
// organisationsnummer, '-', and one or more ASCII letters or digits, at most 31 characters in
// all (so no å, ä, ö or @). With allowTest, test-environment IDs are accepted too: an
// upper-case letter prefix other than "SE" followed by digits, '-', and letters or digits,
// such as Inera's "TSTNMT2321000156-1024" or "IFV1239877878-104K". The error never contains
// the input.
func ParseHSAID(s string, allowTest bool) (HSAID, error) {
	if s == "" {
		return "", errors.New("hsa-id: empty")
	}
	if len(s) > maxHSAIDLen {
		return "", errors.New("hsa-id: longer than 31 characters")
	}
	prefix := 0
	for prefix < len(s) && 'A' <= s[prefix] && s[prefix] <= 'Z' {
		prefix++
	}
	digits := prefix
	for digits < len(s) && isDigit(s[digits]) {
		digits++
	}
	if prefix == 0 || digits == prefix || digits >= len(s) || s[digits] != '-' || digits+1 == len(s) {
		return "", errors.New("hsa-id: want prefix, digits, '-' and letters or digits")
	}
	for i := digits + 1; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return "", errors.New("hsa-id: want only ASCII letters or digits after '-'")
		}
	}
	if s[:prefix] == "SE" {
		if digits-prefix != 10 {
			return "", errors.New("hsa-id: want 10 digits after SE")
		}
		return HSAID(s), nil
	}
	if !allowTest {
		return "", errors.New("hsa-id: want prefix SE (test prefixes are not allowed here)")
	}
	return HSAID(s), nil
}

func isAlnum(c byte) bool {
	return isDigit(c) || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// String returns the HSA-ID as written.
func (h HSAID) String() string { return string(h) }

// IsTest reports whether h uses a test-environment prefix rather than "SE", so production
// code can refuse or flag it. The whole letter prefix counts, as in ParseHSAID: "SEA0-0" is a
// test ID, not a production one.
func (h HSAID) IsTest() bool {
	if h == "" {
		return false
	}
	prefix := 0
	for prefix < len(h) && 'A' <= h[prefix] && h[prefix] <= 'Z' {
		prefix++
	}
	return h[:prefix] != "SE"
}
