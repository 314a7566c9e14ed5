package textenc_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/knutpunkt/knutpunkt/internal/textenc"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		label   string
		want    textenc.Charset
		wantErr string
	}{
		{"UTF-8", textenc.UTF8, ""},
		{"utf8", textenc.UTF8, ""},
		{" us-ascii ", textenc.ASCII, ""},
		{"ISO-8859-1", textenc.Latin1, ""},
		{"iso_8859-1", textenc.Latin1, ""},
		{"Latin1", textenc.Latin1, ""},
		{"LATIN-1", textenc.Latin1, ""},
		{"windows-1252", textenc.Windows1252, ""},
		{"Windows-1252", textenc.Windows1252, ""},
		{"CP1252", textenc.Windows1252, ""},
		{"x-cp1252", textenc.Windows1252, ""},
		{"auto", textenc.Auto, ""},
		{"UTF-16", textenc.Auto, `charset "UTF-16" is not supported (supported: UTF-8, US-ASCII, ISO-8859-1 or Windows-1252)`},
		{"ISO-8859-15", textenc.Auto, `charset "ISO-8859-15" is not supported`},
		{"", textenc.Auto, "charset is not supported"},
		// Not a charset name: not repeated, it may be anything the sender put there.
		{"19121212-1212 Tolvan Tolvansson", textenc.Auto, "charset is not supported (supported"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			got, err := textenc.Lookup(tt.label)
			if got != tt.want {
				t.Errorf("Lookup(%q) = %v, want %v", tt.label, got, tt.want)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestFromContentType(t *testing.T) {
	tests := []struct {
		contentType string
		want        textenc.Charset
		wantErr     string
	}{
		{"", textenc.Auto, ""},
		{"text/csv", textenc.Auto, ""},
		{"text/csv; charset=iso-8859-1", textenc.Latin1, ""},
		{`text/csv; header=present; charset="Windows-1252"`, textenc.Windows1252, ""},
		{"application/xml; charset=UTF-8", textenc.UTF8, ""},
		{"text/csv; charset=shift_jis", textenc.Auto, `content type: charset "shift_jis" is not supported`},
		{"text/csv; charset", textenc.Auto, "content type is malformed: its charset cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			got, err := textenc.FromContentType(tt.contentType)
			if got != tt.want {
				t.Errorf("FromContentType(%q) = %v, want %v", tt.contentType, got, tt.want)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestXMLEncoding(t *testing.T) {
	tests := []struct {
		name, doc string
		label     string
		at        int
		ok        bool
	}{
		{"declared", `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, "ISO-8859-1", 30, true},
		{"single quotes", `<?xml version='1.0' encoding='latin1' standalone='yes'?><a/>`, "latin1", 30, true},
		{"spaces and lines", "<?xml version = \"1.0\"\n   encoding = \"windows-1252\" ?>\n<a/>", "windows-1252", 37, true},
		{"after a byte order mark", "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?><a/>", "UTF-8", 33, true},
		{"no encoding", `<?xml version="1.0"?><a/>`, "", 0, false},
		{"no declaration", `<a encoding="ISO-8859-1"/>`, "", 0, false},
		{"declaration not first", ` <?xml version="1.0" encoding="ISO-8859-1"?><a/>`, "", 0, false},
		{"encoding before version", `<?xml encoding="ISO-8859-1" version="1.0"?><a/>`, "", 0, false},
		{"standalone, no encoding", `<?xml version="1.0" standalone="yes"?><a/>`, "", 0, false},
		{"unquoted", `<?xml version="1.0" encoding=latin1?><a/>`, "", 0, false},
		{"quotes that do not match", `<?xml version="1.0" encoding="latin1'?><a/>`, "", 0, false},
		{"not an encoding name", `<?xml version="1.0" encoding="ISO 8859-1"?><a/>`, "", 0, false},
		{"no space before encoding", `<?xml version="1.0"encoding="latin1"?><a/>`, "", 0, false},
		{"cut short", `<?xml version="1.0" encoding="lat`, "", 0, false},
		{"empty", ``, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			label, at, ok := textenc.XMLEncoding([]byte(tt.doc))
			if label != tt.label || at != tt.at || ok != tt.ok {
				t.Errorf("XMLEncoding(%q) = %q, %d, %v, want %q, %d, %v", tt.doc, label, at, ok, tt.label, tt.at, tt.ok)
			}
			if ok && tt.doc[at:at+len(label)] != label {
				t.Errorf("XMLEncoding(%q): the name is not at %d", tt.doc, at)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		cs       textenc.Charset
		want     string
		wantUsed textenc.Charset
		wantErr  string
	}{
		{"utf-8", "Gärdet;Åsa", textenc.UTF8, "Gärdet;Åsa", textenc.UTF8, ""},
		{"utf-8 byte order mark removed", "\xEF\xBB\xBFGärdet", textenc.UTF8, "Gärdet", textenc.UTF8, ""},
		{"latin-1 å ä ö é", "G\xe4rdet;\xc5sa;\xd6rjan;Andr\xe9", textenc.Latin1, "Gärdet;Åsa;Örjan;André", textenc.Latin1, ""},
		{"windows-1252 only characters", "\x96 \x97 \x93citat\x94 \x91s\x92 \x80 \x85 \x8a\x9a\x8e\x9e\x9f", textenc.Windows1252, "– — “citat” ‘s’ € … ŠšŽžŸ", textenc.Windows1252, ""},
		{"latin-1 label is read as windows-1252", "10\x9620 min", textenc.Latin1, "10–20 min", textenc.Latin1, ""},
		{"ascii", "plain", textenc.ASCII, "plain", textenc.ASCII, ""},
		{"auto: utf-8 stays utf-8", "Gärdet", textenc.Auto, "Gärdet", textenc.UTF8, ""},
		{"auto: otherwise windows-1252", "G\xe4rdet \x96 \x93x\x94", textenc.Auto, "Gärdet – “x”", textenc.Windows1252, ""},
		{"auto: byte order mark means utf-8", "\xEF\xBB\xBFa;b", textenc.Auto, "a;b", textenc.UTF8, ""},
		{"a byte order mark overrides the charset", "\xEF\xBB\xBFG\xc3\xa4rdet", textenc.Windows1252, "Gärdet", textenc.UTF8, ""},
		{"empty", "", textenc.Auto, "", textenc.UTF8, ""},

		{"invalid utf-8", "G\xe4rdet", textenc.UTF8, "", textenc.UTF8, "invalid UTF-8 at byte offset 1"},
		{"invalid utf-8 after a byte order mark", "\xEF\xBB\xBFG\xe4rdet", textenc.Auto, "", textenc.UTF8, "invalid UTF-8 at byte offset 4"},
		{"not ascii", "G\xc3\xa4rdet", textenc.ASCII, "", textenc.ASCII, "byte 0xC3 at byte offset 1 is not US-ASCII"},
		{"undefined in windows-1252", "ab\x81", textenc.Windows1252, "", textenc.Windows1252, "byte 0x81 at byte offset 2 is not a character in Windows-1252"},
		{"undefined in latin-1 as read", "\x9d", textenc.Latin1, "", textenc.Latin1, "byte 0x9D at byte offset 0 is not a character in ISO-8859-1 (read as Windows-1252)"},
		{"auto: neither", "\xe4 \x8f", textenc.Auto, "", textenc.Windows1252, "not UTF-8 (invalid at byte offset 0), and byte 0x8F at byte offset 2 is not a character in Windows-1252"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, used, err := textenc.Decode([]byte(tt.in), tt.cs)
			if used != tt.wantUsed {
				t.Errorf("Decode(%q, %v) read it as %v, want %v", tt.in, tt.cs, used, tt.wantUsed)
			}
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != "" {
				var te *textenc.Error
				if !errors.As(err, &te) {
					t.Errorf("Decode error is %T, want *textenc.Error", err)
				} else if te.Byte != tt.in[te.Offset] {
					t.Errorf("Error.Byte = %#x, but the byte at offset %d is %#x", te.Byte, te.Offset, tt.in[te.Offset])
				}
				return
			}
			if string(got) != tt.want {
				t.Errorf("Decode(%q, %v) = %q, want %q", tt.in, tt.cs, got, tt.want)
			}
		})
	}
}

// TestWindows1252Table checks every byte against golang.org/x/text's
// Windows-1252, which decodes the five undefined bytes to the C1 control
// codes of the same value where Decode refuses them.
func TestWindows1252Table(t *testing.T) {
	undefined := map[byte]bool{0x81: true, 0x8D: true, 0x8F: true, 0x90: true, 0x9D: true}
	dec := charmap.Windows1252.NewDecoder()
	for b := range 256 {
		in := []byte{byte(b)}
		got, _, err := textenc.Decode(in, textenc.Windows1252)
		if undefined[byte(b)] {
			if err == nil {
				t.Errorf("Decode(%#x) = %q, want an error: undefined in Windows-1252", b, got)
			}
			continue
		}
		want, xerr := dec.Bytes(in)
		if xerr != nil {
			t.Fatal(xerr)
		}
		if err != nil || string(got) != string(want) {
			t.Errorf("Decode(%#x) = %q, %v, want %q", b, got, err, want)
		}
	}
}

// TestDecodeKeepsUTF8 checks that UTF-8 comes back without a copy: the
// common case costs a validation, nothing more.
func TestDecodeKeepsUTF8(t *testing.T) {
	in := []byte("\xEF\xBB\xBFGärdet")
	for _, cs := range []textenc.Charset{textenc.Auto, textenc.UTF8} {
		got, _, err := textenc.Decode(in, cs)
		if err != nil || &got[0] != &in[3] {
			t.Errorf("Decode(%v) copied the text or failed: %v", cs, err)
		}
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("error %v, want none", err)
	case want != "" && err == nil:
		t.Errorf("no error, want %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q, want it to contain %q", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "1212") {
		t.Errorf("error %q repeats what the sender wrote", err)
	}
}

// FuzzXMLEncoding: XMLEncoding never panics, and a name it finds is an
// XML encoding name standing where it says.
func FuzzXMLEncoding(f *testing.F) {
	for _, s := range []string{`<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, "\xEF\xBB\xBF<?xml version='1.0' encoding='cp1252'?>",
		`<?xml version="1.0"?>`, `<?xml version="1.0" encoding=""?>`, `<?xml`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		label, at, ok := textenc.XMLEncoding(doc)
		if !ok {
			return
		}
		if at < 0 || at+len(label) > len(doc) || string(doc[at:at+len(label)]) != label || label == "" {
			t.Fatalf("XMLEncoding(%q) = %q at %d", doc, label, at)
		}
		if strings.ContainsAny(label, " \"'<>?=") {
			t.Fatalf("XMLEncoding(%q) = %q, not an encoding name", doc, label)
		}
	})
}

// FuzzDecode: Decode never panics, gives valid UTF-8, and reads a
// single-byte charset one character per byte; an error names a byte of
// the text at its offset.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"G\xe4rdet", "\x96\x93x\x94", "\xEF\xBB\xBFa", "\x81", "G\xc3\xa4rdet", ""} {
		f.Add([]byte(s), uint8(textenc.Auto))
	}
	f.Fuzz(func(t *testing.T, text []byte, c uint8) {
		cs := textenc.Charset(c % 5)
		out, used, err := textenc.Decode(text, cs)
		if err != nil {
			var te *textenc.Error
			if !errors.As(err, &te) || te.Offset < 0 || te.Offset >= len(text) || text[te.Offset] != te.Byte {
				t.Fatalf("Decode(%q, %v) error %#v does not name a byte of the text", text, cs, err)
			}
			return
		}
		if !utf8.Valid(out) {
			t.Fatalf("Decode(%q, %v) = %q, not UTF-8", text, cs, out)
		}
		if used == textenc.Latin1 || used == textenc.Windows1252 {
			if n := utf8.RuneCount(out); n != len(text) {
				t.Fatalf("Decode(%q, %v) read %d bytes as %d characters", text, cs, len(text), n)
			}
		}
	})
}
