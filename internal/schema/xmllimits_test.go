package schema_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// small are limits tight enough to reach in a one-line document.
var small = schema.XMLLimits{MaxAttrs: 2, MaxElements: 4, MaxDepth: 3, MaxNameLen: 5}

func attrs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ` a%d=""`, i)
	}
	return b.String()
}

func nested(depth int) string {
	return strings.Repeat("<e>", depth) + strings.Repeat("</e>", depth)
}

func TestXMLLimitsCheck(t *testing.T) {
	tests := []struct {
		name   string
		limits schema.XMLLimits
		body   string
		want   string // "" accepts; else the refusal's reason
		line   int
		col    int
	}{
		{"attrs at limit", small, `<r a="1" b='2'/>`, "", 0, 0},
		{"attrs over limit", small, "<r>\n <e a=\"1\" b='2' c=\"3\"/></r>", "more than 2 attributes on one element (the limit): refused before parsing", 2, 2},
		{"elements at limit", small, `<r><a/><b/><c/></r>`, "", 0, 0},
		{"elements over limit", small, `<r><a/><b/><c/><d/></r>`, "more than 4 elements (the limit): refused before parsing", 1, 16},
		{"depth at limit", small, `<a><b><c/></b></a>`, "", 0, 0},
		{"depth over limit, self-closing", small, `<a><b><c><d/></c></b></a>`, "elements nested more than 3 deep (the limit): refused before parsing", 1, 10},
		{"depth over limit", small, `<a><b><c><d></d></c></b></a>`, "elements nested more than 3 deep (the limit): refused before parsing", 1, 10},
		{"siblings do not add depth", small, `<a><b><c/><c/></b></a>`, "", 0, 0},
		{"stray end tags buy no depth", small, `</x></x></x><a><b><c><d/></c></b></a>`, "elements nested more than 3 deep (the limit): refused before parsing", 1, 22},
		{"element name at limit", small, `<abcde/>`, "", 0, 0},
		{"element name over limit", small, `<abcdef/>`, "element name longer than 5 bytes (the limit): refused before parsing", 1, 1},
		{"prefixed name counts whole", small, `<p:abc/>`, "", 0, 0},
		{"end tag name over limit", small, `<a></abcdef>`, "element name longer than 5 bytes (the limit): refused before parsing", 1, 4},
		{"attribute name at limit", small, `<a abcde="1"/>`, "", 0, 0},
		{"attribute name over limit", small, `<a abcdef="1"/>`, "attribute name longer than 5 bytes (the limit): refused before parsing", 1, 1},
		{"namespace declarations count", schema.XMLLimits{MaxAttrs: 2, MaxNameLen: 8}, `<r xmlns="u" xmlns:p="v" p:a="1"/>`, "more than 2 attributes on one element (the limit): refused before parsing", 1, 1},

		{"default attrs at limit", schema.XMLLimits{}, "<r" + attrs(256) + "/>", "", 0, 0},
		{"default attrs over limit", schema.XMLLimits{}, "<r" + attrs(257) + "/>", "more than 256 attributes on one element (the limit): refused before parsing", 1, 1},
		{"default depth at limit", schema.XMLLimits{}, nested(256), "", 0, 0},
		{"default depth over limit", schema.XMLLimits{}, nested(257), "elements nested more than 256 deep (the limit): refused before parsing", 1, 3*256 + 1},
		{"default name at limit", schema.XMLLimits{}, "<" + strings.Repeat("n", 1024) + "/>", "", 0, 0},
		{"default name over limit", schema.XMLLimits{}, "<" + strings.Repeat("n", 1025) + "/>", "element name longer than 1024 bytes (the limit): refused before parsing", 1, 1},
		{"default elements at limit", schema.XMLLimits{}, "<r>" + strings.Repeat("<a/>", 99_999) + "</r>", "", 0, 0},
		{"default elements over limit", schema.XMLLimits{}, "<r>" + strings.Repeat("<a/>", 100_000) + "</r>", "more than 100000 elements (the limit): refused before parsing", 1, 400_000},

		// Markup inside values, comments, CDATA and PIs is not counted.
		{"'>' and '/' in a quoted value", small, `<r a="/>x>" b='>/'/>`, "", 0, 0},
		{"quotes of the other kind", small, `<r a="it's" b='say "hi"'/>`, "", 0, 0},
		{"tags in a comment", small, `<r><!-- <a/><b/><c/><d/><e x="1" y="2" z="3"/> -- --></r>`, "", 0, 0},
		{"tags in CDATA", small, `<r><![CDATA[<a/><b/><c/><d/>]]]]></r>`, "", 0, 0},
		{"tags in a PI", small, `<?xml version="1.0"?><?pi <a/><b/><c/><d/> ?><r/>`, "", 0, 0},
		{"text with '>' and quotes", small, `<r>a > b "c" 'd' = /</r>`, "", 0, 0},
		{"white space in tags", small, "<r\n\ta\t=\r\n\"1\"\n/><r\t></r\n>", "", 0, 0},
		{"BOM", small, "\xEF\xBB\xBF<r/>", "", 0, 0},
		{"not XML at all", small, `{"a": 1}`, "", 0, 0},
		{"counting resumes after a comment", small, `<r><!-- x --><a/><b/><c/><d/></r>`, "more than 4 elements (the limit): refused before parsing", 1, 26},

		// Malformed markup where libxml2 might resume elsewhere is refused.
		{"'<' in a quoted value", small, `<r a="<b c='1' d='2' e='3'>"/>`, "'<' in an attribute value", 1, 1},
		{"unterminated value", small, `<r a="x/>`, "attribute value is not terminated", 1, 1},
		{"unterminated comment", small, "<r>\n<!-- <a/>", "comment is not terminated", 2, 1},
		{"unterminated CDATA", small, `<r><![CDATA[ x`, "CDATA section is not terminated", 1, 4},
		{"unterminated PI", small, `<?xml version="1.0"`, "processing instruction is not terminated", 1, 1},
		{"unterminated tag", small, `<r a="1"`, "start tag is not terminated", 1, 1},
		{"attribute without value", small, `<r a b="1"/>`, "malformed attribute (want '=')", 1, 1},
		{"unquoted value", small, `<r a=1/>`, "malformed attribute (want a quoted value)", 1, 1},
		{"no space between attributes", small, `<r a="1"b="2"/>`, "malformed start tag (no white space before an attribute)", 1, 1},
		{"lone '<'", small, `<r>a < b</r>`, "malformed start tag", 1, 6},
		{"'/' not closing", small, `<r / >`, "malformed start tag", 1, 1},
		{"end tag with attribute", small, `<r></r a="1">`, "malformed end tag", 1, 4},
		{"declaration in content", small, `<r><!ENTITY x "y"></r>`, "markup declaration is not allowed here", 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limits.Check([]byte(tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check refused an acceptable body: %v", err)
				}
				return
			}
			var pe *schema.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Check = %v (%T), want *schema.ParseError %q", err, err, tt.want)
			}
			if pe.Reason != tt.want || pe.Line != tt.line || pe.Column != tt.col {
				t.Errorf("Check = line %d, column %d, %q; want line %d, column %d, %q", pe.Line, pe.Column, pe.Reason, tt.line, tt.col, tt.want)
			}
		})
	}
}

// TestParseXMLLimits: ParseXML and XSD validation apply the default limits
// before libxml2, to the documents of the hostile test.
func TestParseXMLLimits(t *testing.T) {
	attack := "<r" + strings.Repeat(` x=""`, 200_000) + "/>"
	tests := []struct {
		name string
		body string
		want string
	}{
		{"200k attributes", attack, "more than 256 attributes on one element (the limit): refused before parsing"},
		{"deep", nested(300), "elements nested more than 256 deep (the limit): refused before parsing"},
		{"long name", `<r><` + strings.Repeat("n", 2000) + `/></r>`, "element name longer than 1024 bytes (the limit): refused before parsing"},
	}
	x := loadXSD(t, tesXSD)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := schema.ParseXML([]byte(tt.body))
			if err == nil {
				doc.Free()
				t.Fatal("ParseXML accepted the document")
			}
			var pe *schema.ParseError
			if !errors.As(err, &pe) || pe.Reason != tt.want {
				t.Fatalf("ParseXML = %v, want *schema.ParseError %q", err, tt.want)
			}
			err = x.Validate([]byte(tt.body))
			var ve *schema.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Reason != tt.want {
				t.Fatalf("Validate = %v, want one problem %q", err, tt.want)
			}
		})
	}
}

// BenchmarkXMLPreScan: `go test -run '^$' -bench XMLPreScan ./internal/schema/`.
// The attack (1 MB, 200,000 attributes on one element) must be refused in
// well under 50 ms; the accepted case is a full pass over 1 MB.
func BenchmarkXMLPreScan(b *testing.B) {
	attack := []byte("<r" + strings.Repeat(` x=""`, 200_000) + "/>")
	var wide strings.Builder
	wide.WriteString("<r>")
	for wide.Len() < 1<<20 {
		wide.WriteString("<e" + attrs(200) + "/>")
	}
	wide.WriteString("</r>")
	cases := []struct {
		name   string
		body   []byte
		refuse bool
	}{
		{"200k_attrs_one_element_1MB", attack, true},
		{"200_attrs_per_element_1MB", []byte(wide.String()), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				if err := (schema.XMLLimits{}).Check(c.body); (err != nil) != c.refuse {
					b.Fatalf("Check = %v, want refused %v", err, c.refuse)
				}
			}
		})
	}
	b.Run("ParseXML_200k_attrs_1MB", func(b *testing.B) {
		b.SetBytes(int64(len(attack)))
		for b.Loop() {
			if _, err := schema.ParseXML(attack); err == nil {
				b.Fatal("ParseXML accepted the attack")
			}
		}
	})
}

// fuzzLimits are small enough for short fuzz inputs to cross.
var fuzzLimits = schema.XMLLimits{MaxAttrs: 3, MaxElements: 12, MaxDepth: 4, MaxNameLen: 8}

var xmlSeeds = []string{
	`<r/>`, `<r a="1" b='2'><c/><!-- <d e="1" f="2" g="3" h="4"/> --><![CDATA[<x/>]]><?pi <y/>?></r>`,
	`<a><b><c><d/></c></b></a>`, `<a><b><c><d><e/></d></c></b></a>`, `<r a="/>" b='>'/>`, `<r a="<"/>`,
	`<p:r xmlns:p="u" p:a="1"/>`, `<r><!-- x`, `<r><![CDATA[`, `<?xml version="1.0"?><r/>`, "<r>\n<a\tb = \"1\"\n/></r>",
	`<r a b="1"/>`, `<r a="1"b="2"/>`, `</x><r/>`, `<!DOCTYPE r><r/>`, `<r>&amp;&lt;</r>`, `<abcdefghi/>`, "\xEF\xBB\xBF<r/>",
	"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r a=\"\xe5\"><b>\x96</b></r>", "<?xml version='1.0' encoding='cp1252'?><r>\x81</r>",
}

// FuzzXMLLimits holds the pre-scan to its promise: when it accepts a
// body that libxml2 then parses, the tree keeps within the limits by
// libxml2's own count; a refusal is a *ParseError with a line.
func FuzzXMLLimits(f *testing.F) {
	for _, s := range xmlSeeds {
		f.Add(s)
	}
	count := func(t *testing.T, doc *schema.XMLDocument, expr string) int {
		v, _, err := doc.Value(expr, nil)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	f.Fuzz(func(t *testing.T, body string) {
		err := fuzzLimits.Check([]byte(body))
		if err != nil {
			var pe *schema.ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Column < 1 || pe.Offset < 0 || pe.Offset > len(body) {
				t.Fatalf("Check(%q) = %#v, want a *ParseError with a position", body, err)
			}
			return
		}
		doc, err := schema.ParseXML([]byte(body))
		if err != nil {
			return
		}
		defer doc.Free()
		checks := []struct {
			expr string
			max  int
		}{
			{"count(//*)", fuzzLimits.MaxElements},
			{"count(//*[count(@*) > 3])", 0},
			{"count(//*[count(ancestor::*) >= 4])", 0},
			{"count(//*[string-length(name()) > 8] | //@*[string-length(name()) > 8])", 0},
		}
		for _, c := range checks {
			if n := count(t, doc, c.expr); n > c.max {
				t.Fatalf("Check accepted %q but %s = %d, over %d", body, c.expr, n, c.max)
			}
		}
	})
}

// FuzzParseXML: ParseXML never panics, refuses with a *ParseError only,
// and a document it accepts can be queried.
func FuzzParseXML(f *testing.F) {
	for _, s := range xmlSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		doc, err := schema.ParseXML([]byte(body))
		if err != nil {
			var pe *schema.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseXML(%q) error is %T, want *schema.ParseError", body, err)
			}
			return
		}
		defer doc.Free()
		if err := (schema.XMLLimits{}).Check([]byte(body)); err != nil {
			t.Fatalf("ParseXML accepted %q, which the default limits refuse: %v", body, err)
		}
		if _, err := doc.Values("//node()", nil); err != nil {
			t.Fatalf("query of accepted %q: %v", body, err)
		}
	})
}
