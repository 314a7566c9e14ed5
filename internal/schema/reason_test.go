package schema

import (
	"strconv"
	"strings"
	"testing"
)

// TestScrubXMLReason feeds libxml2's value-quoting messages, as
// xmlschemas.c words them, with values built to confuse the scrubbing.
func TestScrubXMLReason(t *testing.T) {
	const v = "Tolvan Testsson"
	tests := []struct{ name, msg, want string }{
		{
			"facet",
			"Element 'phone': [facet 'maxLength'] The value '" + v + "' has a length of '15'; this exceeds the allowed maximum length of '12'.",
			"Element 'phone': [facet 'maxLength'] The value has a length of '15'; this exceeds the allowed maximum length of '12'.",
		},
		{
			"value holding libxml2's own words",
			"Element 'x': [facet 'pattern'] The value '" + v + "' is not' is not accepted by the pattern '[0-9]+'.",
			"Element 'x': [facet 'pattern'] The value is not accepted by the pattern '[0-9]+'.",
		},
		{
			"value cut short by libxml2",
			"Element 'Bestallning', attribute 'version': [facet 'enumeration'] The value '" + v + v + v,
			"Element 'Bestallning', attribute 'version': [facet 'enumeration'] The value '…",
		},
		{
			"enumeration",
			"Element 'm': [facet 'enumeration'] The value '" + v + "' is not an element of the set {'NFC', 'LAS'}.",
			"Element 'm': [facet 'enumeration'] The value is not an element of the set {'NFC', 'LAS'}.",
		},
		{
			"atomic type",
			"Element 'start': '" + v + ": 'x' is not a valid value of the atomic type 'xs:dateTime'.",
			"Element 'start': the value is not a valid value of the atomic type 'xs:dateTime'.",
		},
		{
			"attribute",
			"Element 'visit', attribute 'id': '" + v + "' is not a valid value of the atomic type 'xs:ID'.",
			"Element 'visit', attribute 'id': the value is not a valid value of the atomic type 'xs:ID'.",
		},
		{
			"local type",
			"Element 'n': '" + v + "' is not a valid value of the local atomic type.",
			"Element 'n': the value is not a valid value of the local atomic type.",
		},
		{
			"key sequence",
			"Element 'k': Duplicate key-sequence ['" + v + "', '2'] in unique identity-constraint 'u'.",
			"Element 'k': Duplicate key-sequence […] in unique identity-constraint 'u'.",
		},
		{
			"long name cut",
			"Element '" + strings.Repeat("a", 100) + "': This element is not expected.",
			"Element '" + strings.Repeat("a", maxNameBytes) + "…': This element is not expected.",
		},
		{
			"no value",
			"Element 'extra': This element is not expected.",
			"Element 'extra': This element is not expected.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scrubXMLReason(tt.msg); got != tt.want {
				t.Errorf("scrubXMLReason:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestValidationErrorBounded: half a million bad values make a reason of
// about 1.5 KiB that counts what it left out, not megabytes.
func TestValidationErrorBounded(t *testing.T) {
	e := &ValidationError{Schema: "s", Dropped: 400_000}
	for range maxProblems {
		e.Problems = append(e.Problems, Problem{Path: "/items/123456", Reason: "got string, want integer"})
	}
	got := e.Error()
	if len(got) > maxErrorBytes+64 {
		t.Errorf("Error() is %d bytes, want at most about %d", len(got), maxErrorBytes)
	}
	kept := strings.Count(got, "got string")
	if want := "; and " + strconv.Itoa(maxProblems-kept+400_000) + " more problems"; !strings.HasSuffix(got, want) {
		t.Errorf("Error() ends %q, want suffix %q", got[len(got)-40:], want)
	}
}
