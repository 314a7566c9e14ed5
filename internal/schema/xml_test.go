package schema_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// countingServer is a loopback server that must never be contacted.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `<!ENTITY leak "LEAKED-FROM-SERVER">`)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func billionLaughs() string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol0 \"lol\">\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "<!ENTITY lol%d \"%s\">\n", i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
	}
	b.WriteString("]>\n<lolz>&lol10;</lolz>")
	return b.String()
}

func TestParseXMLRefusesDTDs(t *testing.T) {
	srv, hits := countingServer(t)
	tests := []struct {
		name string
		body string
	}{
		{"xxe file", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>`},
		{"xxe http", `<!DOCTYPE r [<!ENTITY xxe SYSTEM "` + srv.URL + `/ent">]><r>&xxe;</r>`},
		{"external dtd", `<?xml version="1.0"?><!DOCTYPE r SYSTEM "` + srv.URL + `/ext.dtd"><r/>`},
		{"parameter entity", `<!DOCTYPE r [<!ENTITY % p SYSTEM "` + srv.URL + `/p.dtd"> %p;]><r>&leak;</r>`},
		{"billion laughs", billionLaughs()},
		{"internal subset only", `<!DOCTYPE r [<!ELEMENT r (#PCDATA)>]><r/>`},
		{"after BOM, comment and PI", "\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- c -->\n<?pi x?>\n<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r/>"},
		{"lower-case doctype", `<!doctype r SYSTEM "file:///etc/passwd"><r/>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			doc, err := schema.ParseXML([]byte(tt.body))
			if err == nil {
				doc.Free()
				t.Fatal("ParseXML accepted a document with a DOCTYPE")
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("ParseXML took %v, want a fast refusal", d)
			}
			msg := err.Error()
			if !strings.Contains(msg, "DOCTYPE is not allowed (DTDs and entities are refused)") {
				t.Errorf("ParseXML error = %q, want the DOCTYPE refusal", msg)
			}
			for _, leak := range []string{"root:", "/etc/passwd", srv.URL, "LEAKED", "lol"} {
				if strings.Contains(msg, leak) {
					t.Errorf("ParseXML error %q contains payload %q", msg, leak)
				}
			}
			var pe *schema.ParseError
			if !errors.As(err, &pe) {
				t.Errorf("ParseXML error is %T, want *schema.ParseError", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("loopback server saw %d requests, want 0", n)
	}
}

func TestParseXMLErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want schema.ParseError
	}{
		{"empty", ``, schema.ParseError{Line: 1, Offset: -1, Reason: "document is empty"}},
		{"invalid UTF-8", "<a>\n<b>\xff</b></a>", schema.ParseError{Line: 2, Offset: 7, Reason: "invalid UTF-8 at byte offset 7" + undeclared}},
		{"UTF-16", "\xff\xfe<\x00a\x00/\x00>\x00", schema.ParseError{Line: 1, Offset: 0, Reason: "invalid UTF-8 at byte offset 0" + undeclared}},
		{"tag mismatch", "<a>\n  <b>\n</a>", schema.ParseError{Line: 3, Column: 5, Offset: -1, Reason: "Opening and ending tag mismatch: b line 2 and a"}},
		{"undefined prefix", `<a><x:b/></a>`, schema.ParseError{Line: 1, Column: 8, Offset: -1, Reason: "Namespace prefix x on b is not defined"}},
		{"undefined entity", `<a>&e;</a>`, schema.ParseError{Line: 1, Column: 7, Offset: -1, Reason: "Entity 'e' not defined"}},
		{"trailing content", "<a/>\n<b/>", schema.ParseError{Line: 2, Column: 1, Offset: -1, Reason: "Extra content at the end of the document"}},
		{"not xml", `{"a": 1}`, schema.ParseError{Line: 1, Column: 1, Offset: -1, Reason: "Start tag expected, '<' not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := schema.ParseXML([]byte(tt.body))
			if err == nil {
				doc.Free()
				t.Fatal("ParseXML succeeded, want error")
			}
			var pe *schema.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseXML error is %T (%v), want *schema.ParseError", err, err)
			}
			if diff := cmp.Diff(tt.want, *pe); diff != "" {
				t.Errorf("ParseXML(%q) error mismatch (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

// undeclared is what ParseXML adds to the reason when a document without
// an encoding declaration is not UTF-8.
const undeclared = `: XML that declares no encoding must be UTF-8 (a Latin-1 document says encoding="ISO-8859-1" or "windows-1252" in its XML declaration)`

// TestParseXMLEncodings: a document is read in the encoding its
// declaration names (ISO-8859-1, Windows-1252 and their aliases, in any
// case), and must be UTF-8 without one; what cannot be read is refused
// with the offset of the first bad byte, and libxml2's own errors keep
// the document's line numbers.
func TestParseXMLEncodings(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string // the values of //text() | //@*, in document order
		wantErr    *schema.ParseError
	}{
		{name: "ISO-8859-1", body: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<a n=\"\xc5sa \xd6berg\">G\xe4rdet, Andr\xe9</a>",
			want: []string{"Åsa Öberg", "Gärdet, André"}},
		{name: "latin1, single quotes, lower case", body: "<?xml version='1.0' encoding='latin1'?><a>\xe5\xe4\xf6</a>",
			want: []string{"åäö"}},
		{name: "windows-1252", body: "<?xml version=\"1.0\" encoding=\"windows-1252\"?><a n=\"\x93citat\x94\">8\x9610 \x80</a>",
			want: []string{"“citat”", "8–10 €"}},
		{name: "CP1252", body: "<?xml version=\"1.0\" encoding=\"CP1252\" standalone=\"yes\"?><a>\x91s\x92</a>",
			want: []string{"‘s’"}},
		// What Windows exports labelled ISO-8859-1 mean by 0x96: an en dash,
		// not a C1 control code.
		{name: "ISO-8859-1 read as Windows-1252", body: "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><a>10\x9620</a>",
			want: []string{"10–20"}},
		{name: "UTF-8 declared", body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>G\xc3\xa4rdet</a>",
			want: []string{"Gärdet"}},
		{name: "UTF-8 with a byte order mark", body: "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><a>G\xc3\xa4rdet</a>",
			want: []string{"Gärdet"}},
		{name: "US-ASCII", body: "<?xml version=\"1.0\" encoding=\"US-ASCII\"?><a>plain</a>",
			want: []string{"plain"}},
		{name: "undeclared Latin-1", body: "<?xml version=\"1.0\"?>\n<a>\n<b>G\xe4rdet</b></a>",
			wantErr: &schema.ParseError{Line: 3, Offset: 30, Reason: "invalid UTF-8 at byte offset 30" + undeclared}},
		{name: "no declaration, Latin-1", body: "<a>\xc5sa</a>",
			wantErr: &schema.ParseError{Line: 1, Offset: 3, Reason: "invalid UTF-8 at byte offset 3" + undeclared}},
		{name: "declared UTF-8, sent Latin-1", body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>G\xe4rdet</a>",
			wantErr: &schema.ParseError{Line: 1, Offset: 42, Reason: "invalid UTF-8 at byte offset 42 (the XML declaration says UTF-8)"}},
		{name: "byte undefined in Windows-1252", body: "<?xml version=\"1.0\" encoding=\"windows-1252\"?>\n<a>ok\x81</a>",
			wantErr: &schema.ParseError{Line: 2, Offset: 51, Reason: "byte 0x81 at byte offset 51 is not a character in Windows-1252 (the XML declaration says Windows-1252)"}},
		{name: "not ASCII", body: "<?xml version=\"1.0\" encoding=\"ascii\"?><a>\xe4</a>",
			wantErr: &schema.ParseError{Line: 1, Offset: 41, Reason: "byte 0xE4 at byte offset 41 is not US-ASCII (the XML declaration says US-ASCII)"}},
		{name: "byte order mark contradicts the declaration", body: "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
			wantErr: &schema.ParseError{Line: 1, Offset: 0, Reason: "the document starts with a UTF-8 byte order mark but its XML declaration says ISO-8859-1"}},
		{name: "unsupported encoding", body: "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>",
			wantErr: &schema.ParseError{Line: 1, Offset: -1, Reason: `the XML declaration's encoding: charset "UTF-16" is not supported (supported: UTF-8, US-ASCII, ISO-8859-1 or Windows-1252)`}},
		{name: "auto is no encoding", body: "<?xml version=\"1.0\" encoding=\"auto\"?><a/>",
			wantErr: &schema.ParseError{Line: 1, Offset: -1, Reason: "the XML declaration names an encoding that is not supported (supported: UTF-8, US-ASCII, ISO-8859-1 or Windows-1252)"}},
		// Decoded, the document is UTF-8 and libxml2 reports on it: lines
		// are where they were, as the encodings are single-byte.
		{name: "libxml2's error keeps the line", body: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<a>\n<b>\xe5\xe4\xf6\n</a>",
			wantErr: &schema.ParseError{Line: 4, Column: 5, Offset: -1, Reason: "Opening and ending tag mismatch: b line 3 and a"}},
		{name: "a DOCTYPE is refused in Latin-1 too", body: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<!DOCTYPE a [<!ENTITY x \"\xe5\">]><a>&x;</a>",
			wantErr: &schema.ParseError{Line: 2, Offset: -1, Reason: "DOCTYPE is not allowed (DTDs and entities are refused)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := schema.ParseXML([]byte(tt.body))
			if tt.wantErr != nil {
				if err == nil {
					doc.Free()
					t.Fatal("ParseXML succeeded, want error")
				}
				var pe *schema.ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("ParseXML error is %T (%v), want *schema.ParseError", err, err)
				}
				if diff := cmp.Diff(*tt.wantErr, *pe); diff != "" {
					t.Errorf("ParseXML(%q) error mismatch (-want +got):\n%s", tt.body, diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseXML(%q): %v", tt.body, err)
			}
			defer doc.Free()
			got, err := doc.Values("//@* | //text()", nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseXML(%q) values mismatch (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := schema.ParseXML([]byte("<a>\n  <b>\n</a>"))
	want := "xml: line 3, column 5: Opening and ending tag mismatch: b line 2 and a"
	if err == nil || err.Error() != want {
		t.Errorf("ParseXML error = %v, want %q", err, want)
	}
}

const visitXML = `<?xml version="1.0" encoding="UTF-8"?>
<v:visit xmlns:v="urn:knutpunkt:tes:visit:1" xmlns:x="urn:other" id="TES-1" x:src="tes">
  <v:client>194001042383</v:client>
  <v:start>2026-11-23T07:02:00Z</v:start>
  <v:insatser>
    <v:insats declined="false"><v:code>DUSCH</v:code><v:minutes>20</v:minutes></v:insats>
    <v:insats declined="true"><v:code>FRUKOST</v:code><v:minutes>12</v:minutes></v:insats>
  </v:insatser>
  <x:note>Gård &amp; trädgård</x:note>
</v:visit>`

var visitNS = map[string]string{"v": "urn:knutpunkt:tes:visit:1", "o": "urn:other"}

func parse(t testing.TB, body string) *schema.XMLDocument {
	t.Helper()
	doc, err := schema.ParseXML([]byte(body))
	if err != nil {
		t.Fatalf("ParseXML: %v", err)
	}
	t.Cleanup(doc.Free)
	return doc
}

func TestValues(t *testing.T) {
	doc := parse(t, visitXML)
	tests := []struct {
		expr string
		ns   map[string]string
		want []string
	}{
		{"/v:visit/v:client", visitNS, []string{"194001042383"}},
		{"/v:visit/@id", visitNS, []string{"TES-1"}},
		{"/v:visit/@o:src", visitNS, []string{"tes"}},
		{"//v:insats/v:code", visitNS, []string{"DUSCH", "FRUKOST"}},
		{"//v:insats/@declined", visitNS, []string{"false", "true"}},
		{"//v:insats[@declined='true']/v:minutes", visitNS, []string{"12"}},
		{"/v:visit/o:note", visitNS, []string{"Gård & trädgård"}},
		{"/v:visit/v:insatser/v:insats[1]", visitNS, []string{"DUSCH20"}},
		{"//*[local-name()='client']", nil, []string{"194001042383"}},
		{"count(//v:insats)", visitNS, []string{"2"}},
		{"sum(//v:minutes)", visitNS, []string{"32"}},
		{"string(/v:visit/@id)", visitNS, []string{"TES-1"}},
		{"concat(/v:visit/@id, '/', /v:visit/v:client)", visitNS, []string{"TES-1/194001042383"}},
		{"boolean(//v:end)", visitNS, []string{"false"}},
		{"//v:end", visitNS, []string{}},
		{"/visit", nil, []string{}}, // unprefixed names never match a namespaced element
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := doc.Values(tt.expr, tt.ns)
			if err != nil {
				t.Fatalf("Values(%q): %v", tt.expr, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Values(%q) mismatch (-want +got):\n%s", tt.expr, diff)
			}
		})
	}
}

func TestValue(t *testing.T) {
	doc := parse(t, visitXML)
	got, ok, err := doc.Value("//v:code", visitNS)
	if err != nil || !ok || got != "DUSCH" {
		t.Errorf(`Value("//v:code") = %q, %v, %v; want "DUSCH", true, nil`, got, ok, err)
	}
	got, ok, err = doc.Value("//v:end", visitNS)
	if err != nil || ok || got != "" {
		t.Errorf(`Value("//v:end") = %q, %v, %v; want "", false, nil`, got, ok, err)
	}
}

func TestXPathErrors(t *testing.T) {
	doc := parse(t, visitXML)
	tests := []struct {
		expr string
		ns   map[string]string
		want string
	}{
		{"(((", visitNS, `compile xpath "(((": Invalid expression`},
		{"", visitNS, "compile xpath: expression is empty"},
		{"//w:code", visitNS, `evaluate xpath "//w:code": Undefined namespace prefix`},
		{"nosuch(//v:code)", visitNS, `evaluate xpath "nosuch(//v:code)": Unregistered function`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := doc.Values(tt.expr, tt.ns)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Values(%q) error = %v, want %q", tt.expr, err, tt.want)
			}
		})
	}
}

func TestEachRepeatingGroup(t *testing.T) {
	doc := parse(t, visitXML)
	type insats struct{ Code, Minutes, Declined string }
	var got []insats
	err := doc.Each("/v:visit/v:insatser/v:insats", visitNS, func(n *schema.XMLNode) error {
		var in insats
		var err error
		if in.Code, _, err = n.Value("v:code", visitNS); err != nil {
			return err
		}
		if in.Minutes, _, err = n.Value("v:minutes", visitNS); err != nil {
			return err
		}
		if in.Declined, _, err = n.Value("@declined", visitNS); err != nil {
			return err
		}
		got = append(got, in)
		return nil
	})
	if err != nil {
		t.Fatalf("Each: %v", err)
	}
	want := []insats{{"DUSCH", "20", "false"}, {"FRUKOST", "12", "true"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Each mismatch (-want +got):\n%s", diff)
	}

	// A compiled relative XPath applied per group, as the mapping engine does.
	code, err := schema.CompileXPath("v:code")
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	if err := doc.Each("//v:insats", visitNS, func(n *schema.XMLNode) error {
		v, _, err := code.Value(n, visitNS)
		codes = append(codes, v)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"DUSCH", "FRUKOST"}, codes); diff != "" {
		t.Errorf("compiled relative XPath mismatch (-want +got):\n%s", diff)
	}

	// Text gives the node's own string value.
	var texts []string
	_ = doc.Each("//v:insats/@declined", visitNS, func(n *schema.XMLNode) error {
		s, err := n.Text()
		texts = append(texts, s)
		return err
	})
	if diff := cmp.Diff([]string{"false", "true"}, texts); diff != "" {
		t.Errorf("Text mismatch (-want +got):\n%s", diff)
	}
}

func TestEachErrors(t *testing.T) {
	doc := parse(t, visitXML)
	stop := errors.New("stop")
	calls := 0
	err := doc.Each("//v:insats", visitNS, func(*schema.XMLNode) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Each returned %v after %d calls, want stop after 1", err, calls)
	}
	err = doc.Each("count(//v:insats)", visitNS, func(*schema.XMLNode) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not a node set") {
		t.Errorf("Each(count) error = %v, want 'not a node set'", err)
	}
}

func TestFreedDocument(t *testing.T) {
	doc, err := schema.ParseXML([]byte(visitXML))
	if err != nil {
		t.Fatal(err)
	}
	node := doc.Node()
	doc.Free()
	doc.Free() // idempotent
	if _, err := node.Values("//v:code", visitNS); err == nil {
		t.Error("Values after Free succeeded, want error")
	}
}

// TestCompiledXPathConcurrent shares compiled expressions (including
// function calls, which libxml2 caches inside the compiled expression)
// across goroutines, each with its own document. Run with -race.
func TestCompiledXPathConcurrent(t *testing.T) {
	exprs := map[string]string{
		"sum(//v:minutes)": "32",
		"concat(/v:visit/@id, '-', count(//v:insats))":  "TES-1-2",
		"//v:insats[contains(v:code, 'FRU')]/v:minutes": "12",
	}
	compiled := map[string]*schema.XPath{}
	for e := range exprs {
		x, err := schema.CompileXPath(e)
		if err != nil {
			t.Fatal(err)
		}
		compiled[e] = x
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 32; g++ {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				doc, err := schema.ParseXML([]byte(visitXML))
				if err != nil {
					errs <- err
					return
				}
				for e, x := range compiled {
					got, _, err := x.Value(doc.Node(), visitNS)
					if err != nil || got != exprs[e] {
						errs <- fmt.Errorf("%s = %q, %v; want %q", e, got, err, exprs[e])
					}
				}
				doc.Free()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
