package schema

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// A problem's reason names the rule a value broke and where (the path or
// line beside it), never the value: a body is a care message, and a value
// in the wrong field is as likely a name, a phone number or a personnummer
// as a typo. Reasons end up in dead letters, attempts, logs and the CLI,
// which are read by people who may not read the message itself. The
// schema's own words (a pattern, an enum's allowed values, a limit) are
// kept: they come from a reviewed file, not from the sender.

// maxNameBytes bounds a name the sender chose (an element, attribute or
// property name) where a reason repeats it: it is markup, not a value,
// but a hostile sender can make it as long as a body.
const maxNameBytes = 64

// jsonReason is the reason for one failed JSON Schema keyword. The
// validator's own texts quote the value for format and pattern ("'Anna
// 070-1234567' does not match ...") and give the number for minimum and
// friends; those are said again without it.
func jsonReason(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Format:
		return fmt.Sprintf("not a valid %s", k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("does not match pattern '%s'", k.Want)
	case *kind.Minimum:
		return "below the minimum " + k.Want.FloatString(ratDigits(k.Want))
	case *kind.Maximum:
		return "above the maximum " + k.Want.FloatString(ratDigits(k.Want))
	case *kind.ExclusiveMinimum:
		return "must be greater than " + k.Want.FloatString(ratDigits(k.Want))
	case *kind.ExclusiveMaximum:
		return "must be less than " + k.Want.FloatString(ratDigits(k.Want))
	case *kind.MultipleOf:
		return "not a multiple of " + k.Want.FloatString(ratDigits(k.Want))
	case *kind.AdditionalProperties:
		return "additional properties " + names(k.Properties) + " not allowed"
	case *kind.PropertyNames:
		return "invalid property name " + names([]string{k.Property})
	case *kind.ContentEncoding:
		return fmt.Sprintf("not %s encoded", k.Want)
	case *kind.ContentMediaType:
		return fmt.Sprintf("not of media type %s", k.Want)
	}
	// The others (type, length, counts, required, enum and const, which
	// quote the schema's values) state the rule and at most a count.
	return k.LocalizedString(jsonPrinter)
}

// ratDigits is how many decimals FloatString needs for r: none for an
// integer (the usual schema bound), a few otherwise.
func ratDigits(r interface{ IsInt() bool }) int {
	if r.IsInt() {
		return 0
	}
	return 6
}

// names quotes up to five sender-chosen names, each cut to maxNameBytes.
func names(ns []string) string {
	const max = 5
	var b strings.Builder
	for i, n := range ns {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(ns)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("'" + cutName(n) + "'")
	}
	return b.String()
}

// cutName cuts s to maxNameBytes at a rune boundary, marking the cut.
func cutName(s string) string {
	if len(s) <= maxNameBytes {
		return s
	}
	i := maxNameBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// libxml2 quotes a value in these places of its messages (xmlschemas.c
// and parser.c); what follows the quote is libxml2's own text.
var (
	// "[facet 'maxLength'] The value 'V' has a length of ..."
	// "Element 'x': The value 'V' is not ..."
	valueOpeners = []string{"The value '", "the value '"}
	// "'V' is not a valid value of the atomic type 'xs:date'."
	valueEnders = []string{"' is not a valid value of", "' is not a valid value"}
	// "Duplicate key-sequence ['V'] in ..."; "No match found for key-sequence ['V'] of ..."
	keySequence = "key-sequence ["
)

// scrubXMLReason removes the values libxml2 quotes from msg, keeping
// element and type names and the rule (cut to maxNameBytes each). A value
// may itself contain "' is", so each value ends at the last place
// libxml2's text can resume.
func scrubXMLReason(msg string) string {
	for _, open := range valueOpeners {
		if i := strings.Index(msg, open); i >= 0 {
			rest := msg[i+len(open):]
			end := max(strings.LastIndex(rest, "' is "), strings.LastIndex(rest, "' has "))
			if end < 0 {
				end = strings.LastIndexByte(rest, '\'')
			}
			if end >= 0 {
				msg = msg[:i] + "The value" + rest[end+1:]
			}
		}
	}
	for _, ender := range valueEnders {
		if j := strings.LastIndex(msg, ender); j >= 0 {
			// The value starts after "Element 'x': " or "Element 'x',
			// attribute 'y': "; a name holds no quote or space, so the
			// first ": '" is libxml2's.
			k := strings.Index(msg[:j], ": '")
			if k >= 0 {
				msg = msg[:k+2] + "the value" + msg[j+1:]
			} else if strings.HasPrefix(msg, "'") {
				msg = "The value" + msg[j+1:]
			}
			break
		}
	}
	if i := strings.Index(msg, keySequence); i >= 0 {
		if j := strings.LastIndex(msg, "]"); j > i {
			msg = msg[:i+len(keySequence)] + "…" + msg[j:]
		}
	}
	return cutQuoted(msg)
}

// cutQuoted cuts every single-quoted part of msg to maxNameBytes: what is
// left quoted is a name, and a hostile name is no shorter than a value. A
// quote left open is a value libxml2 cut short (its messages have a fixed
// size), with no end to find: all of it goes.
func cutQuoted(msg string) string {
	parts := strings.Split(msg, "'")
	changed := false
	if len(parts)%2 == 0 {
		parts[len(parts)-1] = "…"
		changed = true
	}
	for i := 1; i < len(parts); i += 2 {
		if len(parts[i]) > maxNameBytes {
			parts[i] = cutName(parts[i])
			changed = true
		}
	}
	if !changed {
		return msg
	}
	return strings.Join(parts, "'")
}

// cutPath cuts each step of a JSON pointer or element path to
// maxNameBytes: its steps are names the sender chose.
func cutPath(p string) string {
	if len(p) <= maxNameBytes {
		return p
	}
	steps := strings.Split(p, "/")
	for i, s := range steps {
		steps[i] = cutName(s)
	}
	return strings.Join(steps, "/")
}
