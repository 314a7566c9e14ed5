package schema_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// smallVisitXML is a ~300-byte TES visit export.
const smallVisitXML = `<visit xmlns="urn:knutpunkt:tes:visit:1" id="TES-2026-000001"><client>194001042383</client><tagUid>04A224B2C15E80</tagUid><start>2026-11-23T07:02:00Z</start><end>2026-11-23T07:34:00Z</end><staff>TSTNMT2321000156-1024</staff><insatser><insats><code>DUSCH</code><minutes>20</minutes></insats></insatser></visit>`

func BenchmarkXSDValidate(b *testing.B) {
	x := loadXSD(b, tesXSD)
	body := []byte(smallVisitXML)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := x.Validate(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONSchemaValidate(b *testing.B) {
	j, err := schema.LoadJSONSchema(visitSchema)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(visitJSON(b))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := j.Validate(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseXML(b *testing.B) {
	body := []byte(smallVisitXML)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		doc, err := schema.ParseXML(body)
		if err != nil {
			b.Fatal(err)
		}
		doc.Free()
	}
}

func BenchmarkXPathCompiledValue(b *testing.B) {
	doc := parse(b, strings.Replace(smallVisitXML, `xmlns="urn:knutpunkt:tes:visit:1"`, `xmlns="urn:knutpunkt:tes:visit:1"`, 1))
	x, err := schema.CompileXPath("sum(/v:visit/v:insatser/v:insats/v:minutes)")
	if err != nil {
		b.Fatal(err)
	}
	ns := map[string]string{"v": "urn:knutpunkt:tes:visit:1"}
	for b.Loop() {
		if _, _, err := x.Value(doc.Node(), ns); err != nil {
			b.Fatal(err)
		}
	}
}
