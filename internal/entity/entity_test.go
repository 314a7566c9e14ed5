package entity_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/entity"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
)

func readCanonical(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../schemas/canonical/testdata/valid/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDecodersRefuseDuplicateKeys: a repeated key reaches neither the fast
// visit decoder nor encoding/json, which would keep the last value.
func TestDecodersRefuseDuplicateKeys(t *testing.T) {
	visit := readCanonical(t, "visit_full.json")
	created := readCanonical(t, "order_event_created.json")
	tests := []struct {
		name, kind, body string
		want             string // "" decodes
	}{
		{"visit", "visit", visit, ""},
		{"visit, repeated top-level key", "visit", strings.Replace(visit, `"unit_id": "norr-team-1"`, `"unit_id": "`+strings.Repeat("x", 5000)+`", "unit_id": "norr-team-1"`, 1), "/unit_id: duplicate key"},
		{"visit, repeated by escape", "visit", strings.Replace(visit, `"unit_id": "norr-team-1"`, `"unit_id": "norr-team-1", "\u0075nit_id": "x"`, 1), "/unit_id: duplicate key"},
		{"visit, repeated nested key", "visit", strings.Replace(visit, `"person_id_type": "personnummer"`, `"person_id_type": "personnummer", "person_id_type": "personnummer"`, 1), "/client/person_id_type: duplicate key"},
		{"order event", "order_event", created, ""},
		{"order event, repeated nested key", "order_event", strings.Replace(created, `"city": "Demostad"`, `"city": "Demostad", "city": "x"`, 1), "/order/client/address/city: duplicate key"},
	}
	decoders := entity.Decoders(homecare.ValidateOptions{AllowTestHSAIDs: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decoders[tt.kind]([]byte(tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			if _, ok := errors.AsType[*jsonscan.DuplicateKeyError](err); !ok || err.Error() != tt.kind+": "+tt.want {
				t.Fatalf("decode = %v, want %q", err, tt.kind+": "+tt.want)
			}
		})
	}
}
