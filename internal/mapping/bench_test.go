package mapping_test

import (
	"os"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

// BenchmarkApply maps one TES visit record with the shipped
// visit_json_to_visit mapping (23 output fields, 15+ of them computed).
// The op includes decoding the input JSON and encoding the output.
// Target: ≤ 10 µs per record on the reference machine.
func BenchmarkApply(b *testing.B) {
	m, err := mapping.Load("../../mappings/tes/visit_json_to_visit.yaml")
	if err != nil {
		b.Fatal(err)
	}
	in, err := os.ReadFile("../../mappings/tes/testdata/visit_json_to_visit/nfc.input.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Apply(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.Apply(in); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
