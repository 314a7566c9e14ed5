package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/entity"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/mapping"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// Resources returns what pipelines resolve against: the adapter registry,
// and mappings and schemas loaded once each from the configured directories.
func Resources(cfg *config.Config, reg *adapters.Registry) pipeline.Resources {
	mappings := &cache[pipeline.Mapper]{load: func(name string) (pipeline.Mapper, error) {
		path := filepath.Join(cfg.Path(cfg.Mappings), filepath.FromSlash(name)+".yaml")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("mapping %q: no file %s", name, path)
		}
		return mapping.Load(path)
	}}
	schemas := &cache[pipeline.Validator]{load: func(name string) (pipeline.Validator, error) {
		path := filepath.Join(cfg.Path(cfg.Schemas), filepath.FromSlash(name))
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("schema %q: no file %s", name, path)
		}
		v, err := schema.Load(path)
		if err != nil {
			return nil, err
		}
		return namedSchema{v: v, name: name}, nil
	}}
	return pipeline.Resources{
		Registry: reg,
		Mapping:  mappings.get,
		Schema:   schemas.get,
		Vars:     cfg.Vars,
		Entities: entity.Decoders(homecare.ValidateOptions{
			AllowTestHSAIDs:      cfg.Environment != config.Production,
			RequireTestPersonIDs: cfg.Environment != config.Production,
		}),
	}
}

// namedSchema reports validation problems under the schema's name in the
// schemas directory, as pipelines refer to it, not its path on this machine.
type namedSchema struct {
	v    schema.Validator
	name string
}

func (n namedSchema) Validate(body []byte) error {
	err := n.v.Validate(body)
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		ve.Schema = n.name
	}
	return err
}

// cache loads each named resource once, so pipelines sharing a mapping or
// schema share its compiled form.
type cache[T any] struct {
	mu    sync.Mutex
	items map[string]T
	load  func(name string) (T, error)
}

func (c *cache[T]) get(name string) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.items[name]; ok {
		return v, nil
	}
	v, err := c.load(name)
	if err != nil {
		return v, err
	}
	if c.items == nil {
		c.items = map[string]T{}
	}
	c.items[name] = v
	return v, nil
}
