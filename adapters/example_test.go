package adapters_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// upperConfig is the config of a toy sink.
type upperConfig struct {
	// Prefix is written before each body. Required.
	Prefix string `yaml:"prefix"`
}

func (c *upperConfig) Validate() error {
	if c.Prefix == "" {
		return errors.New("prefix: is required")
	}
	return nil
}

// upperSink prints each body upper-cased: a whole adapter in a few lines.
type upperSink struct{ prefix string }

func (s *upperSink) Send(_ context.Context, m knutpunkt.Message) error {
	fmt.Println(s.prefix, strings.ToUpper(string(m.Body)))
	return nil
}

// Register an adapter in a Registry of its own, then run it the way the hub
// does: look it up by name, decode its YAML strictly, open it, send.
func Example() {
	r := &adapters.Registry{}
	r.RegisterSink(adapters.SinkDef{
		Name:    "upper",
		Summary: "print messages upper-cased",
		Sample:  []byte("# Written before each body.\nprefix: '>'\n"),
		Config:  func() adapters.Config { return &upperConfig{} },
		Open: func(cfg adapters.Config, _ adapters.Env) (adapters.Sink, error) {
			c, err := adapters.ConfigOf[*upperConfig](cfg)
			if err != nil {
				return nil, err
			}
			return &upperSink{prefix: c.Prefix}, nil
		},
	})

	def, err := r.Sink("upper")
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := adapters.DecodeConfig(def.Config, []byte("prefx: '>'")); err != nil {
		fmt.Println("typo:", err)
	}
	cfg, err := adapters.DecodeConfig(def.Config, []byte("prefix: '>>'"))
	if err != nil {
		fmt.Println(err)
		return
	}
	sink, err := def.Open(cfg, adapters.Env{}.WithDefaults())
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = sink.Send(context.Background(), knutpunkt.Message{ID: "1", Body: []byte("hej från knutpunkt")})

	_, err = r.Sink("uper")
	fmt.Println(err)
	// Output:
	// typo: decode: yaml: unmarshal errors:
	//   line 1: unknown key prefx (known: prefix)
	// >> HEJ FRÅN KNUTPUNKT
	// unknown sink adapter "uper" (registered: upper; missing import in adapters/all?)
}
