package logging

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// masked replaces the whole value of a field whose key names personal data.
const masked = "***"

// sensitiveWords are key names whose values are personal data. A key matches when it equals a
// word or ends with one after '_', '-', '.' or a camelCase boundary (client_name,
// clientName), ignoring case. Over-masking (pipeline_name) is accepted: it costs a little
// debugging, leaking a name costs a personal-data incident.
var sensitiveWords = [...]string{
	"name", "firstname", "lastname", "fullname", "givenname", "familyname", "surname",
	"address", "street", "phone", "mobile", "email", "door_code",
	// How to get into a client's home (contract 1.1), and a previous identity.
	"key_box", "lock_ref", "previous_person_id", "risk_notes",
}

// swedishSensitiveWords are the Swedish key names of personal data, matched as the end of the
// key whatever precedes it: Swedish writes compounds as one word (tilltalsnamn, gatuadress,
// mobiltelefon, anhorigTelefon), so there is no boundary to wait for. Keys are compared
// folded to ASCII (ö → o), as vendors write them both ways.
var swedishSensitiveWords = [...]string{
	"namn", "adress", "telefon", "telefonnummer", "mobilnummer", "mobil", "epost", "e-post",
	"personnummer", "samordningsnummer", "portkod", "nyckelkod",
	"reservnummer", "nyckelgomma", "tidigareid", "risker",
}

// SensitiveKey reports whether a log field with this key has its value replaced by "***"
// whatever its type.
func SensitiveKey(key string) bool {
	folded := foldSwedish(key)
	for _, w := range swedishSensitiveWords {
		if len(folded) >= len(w) && strings.EqualFold(folded[len(folded)-len(w):], w) {
			return true
		}
	}
	for _, w := range sensitiveWords {
		if len(key) < len(w) || !strings.EqualFold(key[len(key)-len(w):], w) {
			continue
		}
		i := len(key) - len(w)
		if i == 0 {
			return true
		}
		if c := key[i-1]; c == '_' || c == '-' || c == '.' {
			return true
		}
		if c := key[i]; 'A' <= c && c <= 'Z' && !('A' <= key[i-1] && key[i-1] <= 'Z') {
			return true
		}
	}
	return false
}

// foldSwedish replaces å, ä and ö (either case) by a, a and o, so "förnamn" and "fornamn"
// match the same word; keys without them are returned as they are.
func foldSwedish(s string) string {
	if !strings.ContainsAny(s, "åäöÅÄÖ") {
		return s
	}
	return strings.NewReplacer("å", "a", "ä", "a", "ö", "o", "Å", "A", "Ä", "A", "Ö", "O").Replace(s)
}

// MaskString returns s with every personnummer and samordningsnummer masked: the written date
// part is kept and the last four digits become "****" (e.g. "19400104-****", "400104-****";
// see writeMasked). A candidate is a digit run of 10 or 12, or 6 or 8 digits, a separator
// ('-', '+' or the space people type in forms and free text) and 4 digits, not touching
// other digits, that homecare.ParsePersonID accepts (Luhn, a real date or a samordningsnummer
// day, birth number 001-999). Other numbers, such as order ids or timestamps, are left alone.
// Strings without such digit runs are returned unchanged without allocating.
func MaskString(s string) string {
	var b *strings.Builder
	last := 0 // s[last:] is not yet copied to b
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		end := i
		run := end - start
		if j := reserveEnd(s, i); (run == 6 || run == 8) && j > 0 {
			end = j // a reserve number: 20000101-T220, 20000101T220
		} else if (run == 6 || run == 8) && i+5 <= len(s) && (s[i] == '-' || s[i] == '+' || s[i] == ' ') &&
			isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) && isDigit(s[i+4]) &&
			(i+5 == len(s) || !isDigit(s[i+5])) {
			end = i + 5
		} else if run != 10 && run != 12 {
			continue
		}
		if !isPersonID(s[start:end]) || inUUID(s, start, end) {
			continue
		}
		if b == nil {
			b = new(strings.Builder)
			b.Grow(len(s))
		}
		b.WriteString(s[last:start])
		writeMasked(b, s[start:end])
		last = end
		i = end
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// writeMasked writes a valid person id as written with its last four digits replaced:
// "194001042383" and "19400104-2383" become "19400104-****", "4001042383" becomes
// "400104-****" and "400104+2383" "400104+****". The written date is kept as is rather than
// normalised, because the century of a 10-digit form depends on the clock and on a '+' the
// writer may have dropped; the birth number and check digit, which make the number
// identifying, are always removed.
func writeMasked(b *strings.Builder, id string) {
	date := id[:len(id)-4]
	sep := byte('-')
	if c := date[len(date)-1]; c == '-' || c == '+' || c == ' ' {
		sep = c
		date = date[:len(date)-1]
	}
	b.WriteString(date)
	b.WriteByte(sep)
	b.WriteString("****")
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isPersonID reports whether the candidate id is a valid person id; a space separator is read
// as the '-' it stands for.
func isPersonID(id string) bool {
	if n := len(id) - 5; n > 0 && id[n] == ' ' {
		id = id[:n] + "-" + id[n+1:]
	}
	// A birth date in the future is no number the hub takes, but it may be a person's:
	// masked all the same.
	_, err := homecare.ParsePlausiblePersonID(id)
	return err == nil
}

// reserveEnd returns where a reserve number's letter and three digits end when they follow
// a date ending at i (after an optional separator), else 0.
func reserveEnd(s string, i int) int {
	if i < len(s) && (s[i] == '-' || s[i] == '+' || s[i] == ' ') {
		i++
	}
	if i+4 > len(s) || s[i] < 'A' || s[i] > 'Z' || !isDigit(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) ||
		(i+4 < len(s) && isDigit(s[i+4])) {
		return 0
	}
	return i + 4
}

// maskInt returns the masked form of n when its decimal digits are a person id.
func maskInt(n uint64) (string, bool) {
	if n < 1_000_000_000 || n > 999_999_999_999 {
		return "", false
	}
	var buf [20]byte
	i := len(buf)
	for ; n > 0; n /= 10 {
		i--
		buf[i] = byte('0' + n%10)
	}
	digits := len(buf) - i
	if digits != 10 && digits != 12 {
		return "", false
	}
	id := string(buf[i:])
	if _, err := homecare.ParsePlausiblePersonID(id); err != nil {
		return "", false
	}
	var b strings.Builder
	writeMasked(&b, id)
	return b.String(), true
}

// maskJSON rewrites a JSON document, keeping its order: values under sensitive keys become
// "***", person ids in strings, keys and numbers are masked (a number that is a person id
// becomes a string).
func maskJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out bytes.Buffer
	out.Grow(len(data))
	if err := maskJSONValue(dec, &out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func maskJSONValue(dec *json.Decoder, out *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			out.WriteByte('{')
			for first := true; dec.More(); first = false {
				if !first {
					out.WriteByte(',')
				}
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				writeJSONString(out, MaskString(key))
				out.WriteByte(':')
				if SensitiveKey(key) {
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
					writeJSONString(out, masked)
					continue
				}
				if err := maskJSONValue(dec, out); err != nil {
					return err
				}
			}
			out.WriteByte('}')
		case '[':
			out.WriteByte('[')
			for first := true; dec.More(); first = false {
				if !first {
					out.WriteByte(',')
				}
				if err := maskJSONValue(dec, out); err != nil {
					return err
				}
			}
			out.WriteByte(']')
		}
		_, err = dec.Token() // the closing delimiter
		return err
	case string:
		writeJSONString(out, MaskString(t))
	case json.Number:
		if m := MaskString(string(t)); m != string(t) {
			writeJSONString(out, m)
		} else {
			out.WriteString(string(t))
		}
	case bool:
		if t {
			out.WriteString("true")
		} else {
			out.WriteString("false")
		}
	case nil:
		out.WriteString("null")
	}
	return nil
}

func writeJSONString(out *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	out.Write(b)
}

// inUUID reports whether s[start:end] lies inside a UUID (8-4-4-4-12 hex
// digits): a message id such as 01a23ff3-689e-73f9-aba4-4803157488c3 holds
// digit runs that read as a personnummer by chance, and masking them would
// break the id where an operator needs it whole.
func inUUID(s string, start, end int) bool {
	lo, hi := start, end
	for lo > 0 && isHexOrDash(s[lo-1]) {
		lo--
	}
	for hi < len(s) && isHexOrDash(s[hi]) {
		hi++
	}
	for i := lo; i+36 <= hi; i++ { // a UUID within the hex-and-dash token that covers the run
		if i <= start && end <= i+36 && isUUID(s[i:i+36]) {
			return true
		}
	}
	return false
}

func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexOrDash(s[i]) || s[i] == '-' {
				return false
			}
		}
	}
	return true
}

func isHexOrDash(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == '-'
}
