// Package textenc reads the text of a vendor's file as UTF-8: the one place
// that decides which character set a CSV or XML body is in and decodes it.
// Swedish exports are often not UTF-8 but ISO-8859-1 or Windows-1252; the
// mapping's CSV reader and schema.ParseXML both come here, whichever way
// the body arrived (HTTP ingest, knut import, knut try).
//
// The character sets are UTF-8, US-ASCII, and Windows-1252 with ISO-8859-1
// read as Windows-1252. That is what the WHATWG Encoding Standard (and so
// every browser) does: the two agree on every printable character of
// ISO-8859-1, and the bytes 0x80–0x9F, control codes in ISO-8859-1 that no
// export means, are in practice Windows-1252's en dash, curly quotes and €
// in files labelled ISO-8859-1. The five bytes Windows-1252 leaves
// undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are errors.
//
// Nothing is decoded silently wrong: bytes that are not characters in the
// charset are an *Error naming the byte's value and offset, never the text
// around it (it may be personal data).
package textenc

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Charset is how the bytes of a text are read.
type Charset uint8

const (
	// Auto reads valid UTF-8 as UTF-8 and anything else as Windows-1252:
	// for a CSV whose sender says nothing about its charset.
	Auto Charset = iota
	// UTF8 is UTF-8; invalid sequences are errors.
	UTF8
	// ASCII is US-ASCII; any byte from 0x80 is an error.
	ASCII
	// Latin1 is ISO-8859-1, decoded as Windows-1252 (see the package
	// documentation); it differs from Windows1252 only in its name.
	Latin1
	// Windows1252 is Windows-1252 (cp1252), a superset of ISO-8859-1's
	// printable characters.
	Windows1252
)

// String returns the charset's preferred name, "UTF-8", "ISO-8859-1", ….
func (c Charset) String() string {
	switch c {
	case UTF8:
		return "UTF-8"
	case ASCII:
		return "US-ASCII"
	case Latin1:
		return "ISO-8859-1"
	case Windows1252:
		return "Windows-1252"
	}
	return "auto"
}

// Supported lists the charsets Lookup knows, for error messages.
const Supported = "UTF-8, US-ASCII, ISO-8859-1 or Windows-1252"

// labels maps every name Lookup accepts, in lower case, to its charset:
// the IANA names and aliases, and the spellings Windows, Java and iconv
// use.
var labels = map[string]Charset{
	"utf-8": UTF8, "utf8": UTF8, "unicode-1-1-utf-8": UTF8,
	"us-ascii": ASCII, "ascii": ASCII, "ansi_x3.4-1968": ASCII, "iso646-us": ASCII, "csascii": ASCII,
	"iso-8859-1": Latin1, "iso8859-1": Latin1, "iso_8859-1": Latin1, "iso_8859-1:1987": Latin1, "iso88591": Latin1,
	"latin1": Latin1, "latin-1": Latin1, "l1": Latin1, "iso-latin-1": Latin1, "iso-ir-100": Latin1,
	"cp819": Latin1, "ibm819": Latin1, "csisolatin1": Latin1,
	"windows-1252": Windows1252, "windows1252": Windows1252, "cp1252": Windows1252, "x-cp1252": Windows1252,
	"win-1252": Windows1252, "win1252": Windows1252, "cswindows1252": Windows1252,
}

// Lookup returns the charset label names, case-insensitively: "UTF-8",
// "iso-8859-1", "latin1", "windows-1252", "cp1252", …. "auto" is Auto. Any
// other label is an *UnsupportedError.
func Lookup(label string) (Charset, error) {
	l := strings.ToLower(strings.TrimSpace(label))
	if l == "auto" {
		return Auto, nil
	}
	if c, ok := labels[l]; ok {
		return c, nil
	}
	return Auto, &UnsupportedError{Label: label}
}

// UnsupportedError is a charset label Lookup does not know.
type UnsupportedError struct {
	// Label is the name as given.
	Label string
}

// token is what a charset label looks like (RFC 2978, and XML's EncName),
// up to 40 characters: only such a label is repeated in an error.
var token = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]{0,39}$`)

// Error reads `charset "shift_jis" is not supported (…)`. A label that
// does not look like a charset name is not repeated.
func (e *UnsupportedError) Error() string {
	if token.MatchString(e.Label) {
		return fmt.Sprintf("charset %q is not supported (supported: %s)", e.Label, Supported)
	}
	return "charset is not supported (supported: " + Supported + ")"
}

// FromContentType returns the charset a MIME type's charset parameter
// names ("text/csv; charset=iso-8859-1"), and Auto when it has none.
func FromContentType(contentType string) (Charset, error) {
	if strings.TrimSpace(contentType) == "" {
		return Auto, nil
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		// mime's error may quote the header: it is not repeated.
		return Auto, errors.New("content type is malformed: its charset cannot be read")
	}
	label, ok := params["charset"]
	if !ok {
		return Auto, nil
	}
	c, err := Lookup(label)
	if err != nil {
		return Auto, fmt.Errorf("content type: %w", err)
	}
	return c, nil
}

// BOM is the UTF-8 byte order mark: a text that starts with it is UTF-8.
const BOM = "\xEF\xBB\xBF"

// XMLEncoding returns the encoding an XML document's declaration names
// (`<?xml version="1.0" encoding="ISO-8859-1"?>` gives "ISO-8859-1") and
// where the name starts, after a UTF-8 byte order mark if there is one.
// ok is false when the document has no declaration or the declaration no
// encoding: then XML must be UTF-8 (XML 1.0 §4.3.3). A malformed
// declaration is left to the parser to refuse.
func XMLEncoding(doc []byte) (label string, at int, ok bool) {
	start := 0
	if bytes.HasPrefix(doc, []byte(BOM)) {
		start = len(BOM)
	}
	// XMLDecl ::= '<?xml' VersionInfo EncodingDecl? SDDecl? S? '?>', each
	// pseudo-attribute S Name Eq ('"' value '"' | "'" value "'").
	b := doc[start:min(len(doc), start+256)]
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return "", 0, false
	}
	i := len("<?xml")
	for n := range 2 {
		j := skipSpace(b, i)
		if j == i {
			return "", 0, false
		}
		nameAt := j
		for j < len(b) && 'a' <= b[j] && b[j] <= 'z' {
			j++
		}
		name := b[nameAt:j]
		j = skipSpace(b, j)
		if j >= len(b) || b[j] != '=' {
			return "", 0, false
		}
		j = skipSpace(b, j+1)
		if j >= len(b) || (b[j] != '"' && b[j] != '\'') {
			return "", 0, false
		}
		end := bytes.IndexByte(b[j+1:], b[j])
		if end < 0 {
			return "", 0, false
		}
		value := b[j+1 : j+1+end]
		switch {
		case n == 0 && string(name) != "version":
			return "", 0, false
		case n == 1 && string(name) == "encoding" && encName(value):
			return string(value), start + j + 1, true
		}
		i = j + 1 + end + 1
	}
	return "", 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// encName reports whether v is an XML EncName: [A-Za-z] ([A-Za-z0-9._] | '-')*.
func encName(v []byte) bool {
	for i, c := range v {
		letter := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '.' || c == '_' || c == '-')) {
			return false
		}
	}
	return len(v) > 0
}

// Error is a byte that is not a character in the charset its text is read
// in. It names the byte's value and offset, never the text around it.
type Error struct {
	// Charset is the charset the text was read in.
	Charset Charset
	// Offset is the byte offset of the first byte that is not a character
	// (for UTF-8, of the first byte of the invalid sequence).
	Offset int
	// Byte is the byte at Offset.
	Byte byte
	// UTF8Offset is, for a text read as Auto, where it stopped being
	// UTF-8 (so it was read as Windows-1252); -1 otherwise.
	UTF8Offset int
}

// Error reads "invalid UTF-8 at byte offset 7", or "byte 0x81 at byte
// offset 7 is not a character in Windows-1252" (after "not UTF-8 (invalid
// at byte offset 3), and " when the charset was a guess).
func (e *Error) Error() string {
	switch e.Charset {
	case UTF8:
		return fmt.Sprintf("invalid UTF-8 at byte offset %d", e.Offset)
	case ASCII:
		return fmt.Sprintf("byte 0x%02X at byte offset %d is not US-ASCII", e.Byte, e.Offset)
	case Latin1:
		return fmt.Sprintf("byte 0x%02X at byte offset %d is not a character in ISO-8859-1 (read as Windows-1252)", e.Byte, e.Offset)
	}
	msg := fmt.Sprintf("byte 0x%02X at byte offset %d is not a character in Windows-1252", e.Byte, e.Offset)
	if e.UTF8Offset >= 0 {
		msg = fmt.Sprintf("not UTF-8 (invalid at byte offset %d), and %s", e.UTF8Offset, msg)
	}
	return msg
}

// Decode returns text as UTF-8, read in charset cs, and the charset it was
// read in (UTF8 or Windows1252 for Auto). A UTF-8 byte order mark is
// removed, and makes the text UTF-8 whatever cs says. UTF-8 and ASCII
// text comes back as the same slice (without the mark); other text is
// decoded into a new one. The error is an *Error.
func Decode(text []byte, cs Charset) ([]byte, Charset, error) {
	out, used, err := decode(text, cs)
	if err != nil {
		return nil, used, err
	}
	return out, used, nil
}

func decode(text []byte, cs Charset) ([]byte, Charset, *Error) {
	skip := 0
	if bytes.HasPrefix(text, []byte(BOM)) {
		skip, cs = len(BOM), UTF8
	}
	text = text[skip:]
	// Offsets are into the text as given, the mark included.
	at := func(e *Error) *Error {
		e.Offset += skip
		if e.UTF8Offset >= 0 {
			e.UTF8Offset += skip
		}
		return e
	}
	switch cs {
	case UTF8:
		if off := invalidUTF8(text); off >= 0 {
			return nil, UTF8, at(&Error{Charset: UTF8, Offset: off, Byte: text[off], UTF8Offset: -1})
		}
		return text, UTF8, nil
	case ASCII:
		for i, b := range text {
			if b >= utf8.RuneSelf {
				return nil, ASCII, at(&Error{Charset: ASCII, Offset: i, Byte: b, UTF8Offset: -1})
			}
		}
		return text, ASCII, nil
	case Auto:
		off := invalidUTF8(text)
		if off < 0 {
			return text, UTF8, nil
		}
		out, err := decode1252(text, Windows1252)
		if err != nil {
			err.UTF8Offset = off
			return nil, Windows1252, at(err)
		}
		return out, Windows1252, nil
	}
	out, err := decode1252(text, cs)
	if err != nil {
		return nil, cs, at(err)
	}
	return out, cs, nil
}

// invalidUTF8 returns the offset of the first byte of text that does not
// start a valid UTF-8 sequence, or -1.
func invalidUTF8(text []byte) int {
	if utf8.Valid(text) {
		return -1
	}
	for i := 0; i < len(text); {
		if text[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// cp1252 holds Windows-1252's characters for the bytes 0x80–0x9F; 0 marks
// the five it leaves undefined. Every other byte is the code point of its
// value (as in ISO-8859-1).
var cp1252 = [32]rune{
	'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
	0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
}

func decode1252(text []byte, cs Charset) ([]byte, *Error) {
	// Latin letters take two bytes in UTF-8; the en dash and quotes three.
	out := make([]byte, 0, len(text)+len(text)/4+8)
	for i, b := range text {
		switch {
		case b < utf8.RuneSelf:
			out = append(out, b)
		case b < 0xA0:
			r := cp1252[b-0x80]
			if r == 0 {
				return nil, &Error{Charset: cs, Offset: i, Byte: b, UTF8Offset: -1}
			}
			out = utf8.AppendRune(out, r)
		default:
			out = utf8.AppendRune(out, rune(b))
		}
	}
	return out, nil
}
