package adapterstest

import (
	"bytes"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// testConfig is case 1. The kit cannot know which keys are required, so it
// removes each top-level key of the sample in turn: the rest must either
// still validate or fail with an error that names the removed key.
func testConfig(t *testing.T, name, summary string, sample []byte, newConfig func() adapters.Config) {
	t.Helper()
	if name == "" || summary == "" {
		t.Errorf("Def.Name = %q, Def.Summary = %q: both are required", name, summary)
	}
	if len(bytes.TrimSpace(sample)) == 0 {
		t.Fatal("Def.Sample is empty: embed the package's sample.yaml")
	}
	if _, err := adapters.DecodeConfig(newConfig, sample); err != nil {
		t.Fatalf("DecodeConfig(sample): %v", err)
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(sample, &doc); err != nil {
		t.Fatalf("parse sample: %v", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatal("sample must be a YAML mapping")
	}
	root := doc.Content[0]

	t.Run("every_key_documented", func(t *testing.T) {
		for i := 0; i < len(root.Content); i += 2 {
			k := root.Content[i]
			if strings.TrimSpace(k.HeadComment) == "" && strings.TrimSpace(k.LineComment) == "" {
				t.Errorf("sample key %q has no comment", k.Value)
			}
		}
		for _, key := range adapters.YAMLKeys(reflect.TypeOf(newConfig())) {
			if !regexp.MustCompile(`(?m)^\s*#?\s*` + regexp.QuoteMeta(key) + `:`).Match(sample) {
				t.Errorf("config key %q does not appear in the sample, not even commented out", key)
			}
		}
	})

	t.Run("unknown_key_fails", func(t *testing.T) {
		data := append(append([]byte(nil), sample...), "\nadapterstest_unknown_key: 1\n"...)
		_, err := adapters.DecodeConfig(newConfig, data)
		if err == nil || !strings.Contains(err.Error(), "adapterstest_unknown_key") {
			t.Errorf("DecodeConfig(sample + unknown key) = %v, want an error naming adapterstest_unknown_key", err)
		}
	})

	t.Run("removed_key_named", func(t *testing.T) {
		for i := 0; i < len(root.Content); i += 2 {
			key := root.Content[i].Value
			m := &yaml.Node{Kind: yaml.MappingNode}
			m.Content = append(append(m.Content, root.Content[:i]...), root.Content[i+2:]...)
			data, err := yaml.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := adapters.DecodeConfig(newConfig, data); err != nil && !strings.Contains(err.Error(), key) {
				t.Errorf("without %q: error %q does not name the key", key, err)
			}
		}
	})
}
