package pipeline_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// FuzzParse feeds arbitrary YAML to the pipeline loader, seeded with every
// shipped pipeline. It never panics; a refusal is Problems, each naming
// the file; and the verdict is deterministic, so `knut validate` reports
// the same problems on every run.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("../../pipelines/*.yaml")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seed pipelines: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("from: {topic: in.x}\nsteps:\n  - split: lines\n  - map: upper\n  - store: note\nto: {topic: out}\n"))
	f.Add([]byte("from: {topic: ${v}}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	res := resources(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := pipeline.Parse("fuzz.yaml", data, res)
		again, err2 := pipeline.Parse("fuzz.yaml", data, res)
		if err != nil {
			var ps pipeline.Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("Parse error is %T (%v), want Problems", err, err)
			}
			for _, pr := range ps {
				if !strings.HasPrefix(pr.Error(), "fuzz.yaml") {
					t.Fatalf("problem %q does not name the file", pr.Error())
				}
			}
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Parse is not deterministic:\n%v\nthen\n%v", err, err2)
			}
			return
		}
		if err2 != nil || p.Name != "fuzz" || !reflect.DeepEqual(p.From, again.From) || !reflect.DeepEqual(p.To, again.To) || len(p.Steps) != len(again.Steps) {
			t.Fatalf("Parse accepted, then: %+v, %v", again, err2)
		}
	})
}
