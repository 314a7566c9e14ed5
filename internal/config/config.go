// Package config is the hub's own configuration (knut.yaml): where the store
// and bus live, which directories hold pipelines, mappings and schemas, the
// HTTP listener and its TLS, and logging. Decoding is strict; every problem
// is reported at once with its YAML key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Environment says what kind of deployment this is. Outside production the
// hub accepts test HSA-IDs and expects only official test personnummer.
type Environment string

// Environments.
const (
	Production  Environment = "production"
	Development Environment = "development"
	Test        Environment = "test"
)

// UnmarshalText rejects unknown environments.
func (e *Environment) UnmarshalText(b []byte) error {
	switch v := Environment(b); v {
	case Production, Development, Test:
		*e = v
		return nil
	}
	return fmt.Errorf("environment %q: want production, development or test", b)
}

// Config is knut.yaml.
type Config struct {
	// Environment is production, development (default) or test.
	Environment Environment `yaml:"environment"`
	// Store is the hub's database.
	Store Store `yaml:"store"`
	// Bus is the message transport between pipelines.
	Bus Bus `yaml:"bus"`
	// HTTP is the hub's HTTP server (ingest, health, metrics).
	HTTP HTTP `yaml:"http"`
	// Pipelines is the directory of pipeline files. Default "pipelines".
	Pipelines string `yaml:"pipelines"`
	// DisabledPipelines names pipelines in that directory this deployment does
	// not run: their files are still loaded and checked (a typo is still an
	// error), but no source starts and no path is mounted. A pipeline that needs
	// what a machine lacks (a directory's contracts and certificate, a vendor
	// not yet contracted) is shipped and switched on where it can run.
	DisabledPipelines []string `yaml:"disabled_pipelines"`
	// Mappings is the directory of mapping files. Default "mappings".
	Mappings string `yaml:"mappings"`
	// Schemas is the directory of schemas. Default "schemas".
	Schemas string `yaml:"schemas"`
	// Log sets log format and level.
	Log Log `yaml:"log"`
	// MemoryLimit is the Go runtime's soft memory limit while the hub
	// runs (debug.SetMemoryLimit); 0, the default, leaves the runtime's
	// (GOMEMLIMIT). The garbage collector works harder as the heap nears
	// it, so the RSS follows what the hub holds rather than twice that;
	// set too close to what the hub holds, it collects all the time (at
	// 192MiB the order benchmark's p50 went from 47 ms to 3.7 s).
	MemoryLimit adapters.ByteSize `yaml:"memory_limit"`
	// ShutdownTimeout is how long a stopping hub lets the messages in
	// flight finish (default 30s); what is not finished by then stays
	// received in the message log and is handled at the next start.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Orders are the municipality's rules for its orders.
	Orders Orders `yaml:"orders"`
	// Visits are the municipality's rules for counting visits as executed time.
	Visits Visits `yaml:"visits"`
	// Locks are the keyless locks' key lifecycle: whom the hub gives keys, through
	// which pipeline.
	Locks Locks `yaml:"locks"`
	// Reconciliation is the nightly reconciliation of executed hours and the monthly
	// payment basis (internal/reconcile, docs/reconciliation.md).
	Reconciliation Reconciliation `yaml:"reconciliation"`
	// Vars are the values of ${name} references in pipeline files, e.g. a
	// provider's webhook URL: what one municipality's deployment sets.
	Vars map[string]string `yaml:"vars"`

	// dir is the config file's directory; relative paths resolve against it.
	dir string
}

// Orders are a municipality's settings for the order flow and its nightly job.
type Orders struct {
	// InferExecutionFromVisits lists the case systems (source_system) whose orders are
	// marked executed, on the first visit's date, when staff registered visits for the
	// client under the order's provider but the provider never reported verkställd. The
	// execution is flagged as inferred (by hub:visits) in the order and the IVO report.
	InferExecutionFromVisits []string `yaml:"infer_execution_from_visits"`
	// ReceiptsPipeline is the pipeline an inferred execution is handed to, so the case
	// system hears of it as of a provider's report (e.g. lifecare_receipts); empty: none.
	ReceiptsPipeline string `yaml:"receipts_pipeline"`
}

// Locks configure the key lifecycle (internal/keys): the hub gives the directory-listed
// staff of the provider an order names a key to the client's lock while the order is in
// force, and revokes it when the order ends or pauses, the provider changes, the person
// leaves or is blocked.
type Locks struct {
	// Vendor names the lock vendor the grants are at (the key_grants rows' vendor), e.g. nuki.
	Vendor string `yaml:"vendor"`
	// KeysPipeline is the pipeline the key grant changes are handed to (its sink is the
	// vendor's adapter); empty: no key lifecycle.
	KeysPipeline string `yaml:"keys_pipeline"`
	// ConvergeInterval is how often `knut serve` compares the grants it wants with those
	// it has handed on (default 1m); an emergency revoke does not wait for it.
	ConvergeInterval time.Duration `yaml:"converge_interval"`
	// ResendAfter is how long a change may wait for the vendor's confirmation before the
	// next comparison hands it on again, numbered anew (default 15m).
	ResendAfter time.Duration `yaml:"resend_after"`
}

// Reconciliation configures the reconciliation of executed hours: under which rules, and
// where each provider's monthly payment basis goes.
type Reconciliation struct {
	// RuleSet is the municipality's rule set file (relative to knut.yaml's directory);
	// empty: no nightly reconciliation.
	RuleSet string `yaml:"rule_set"`
	// ReportPipeline is the pipeline each provider's payment basis of the month before is
	// handed to on ReportDay (e.g. lifecare_payment_basis); empty: none is sent.
	ReportPipeline string `yaml:"report_pipeline"`
	// ReportDay is the day of the month the month before is reported (1-28, default 6:
	// after the late records of its last days, Stockholm's payment run).
	ReportDay int `yaml:"report_day"`
}

// Visits are a municipality's rules for executed time (utförd tid) and where it goes.
type Visits struct {
	// AcrossMidnight is the day a visit that runs past midnight counts on: start_day (the
	// default: the whole visit on the day it started, as TES exports and most payment
	// rules do) or split (each day's part on that day, cut at Europe/Stockholm midnight).
	// Both the nightly executed job and the executed-time totals follow it.
	AcrossMidnight MidnightRule `yaml:"across_midnight"`
	// ExecutedPipeline is the pipeline the nightly executed job hands each client's
	// executed day to, so the case system sees what was done (e.g. lifecare_executed);
	// empty: the job does not run.
	ExecutedPipeline string `yaml:"executed_pipeline"`
}

// MidnightRule is homecare.MidnightRule read from knut.yaml with the line of a bad value.
type MidnightRule homecare.MidnightRule

// UnmarshalYAML accepts start_day or split; an error names the line.
func (r *MidnightRule) UnmarshalYAML(n *yaml.Node) error {
	var v homecare.MidnightRule
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: visits.across_midnight: want start_day or split", n.Line)}}
	}
	if err := v.UnmarshalText([]byte(n.Value)); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: visits.across_midnight: %q: want start_day or split", n.Line, n.Value)}}
	}
	*r = MidnightRule(v)
	return nil
}

// Rule is the rule as the store and jobs take it.
func (r MidnightRule) Rule() homecare.MidnightRule { return homecare.MidnightRule(r) }

// Store configures the database.
type Store struct {
	// DSN is a SQLite file path (default "knut.db") or a postgres:// URL.
	DSN string `yaml:"dsn"`
	// Key is the secret from which the keys that encrypt and hash personal
	// identifiers are derived, e.g. env:KNUT_STORE_KEY. Required in production;
	// elsewhere a fixed development key is used when unset.
	Key adapters.Secret `yaml:"key"`
}

// Bus configures the message transport.
type Bus struct {
	// Kind is "embedded" (the default and, for now, the only kind): queues
	// in the hub's process, made durable by the store's message log, which
	// holds every message before it is queued and requeues what was not
	// finished at the next start. A networked bus for several hub
	// processes is a later kind.
	Kind string `yaml:"kind"`
	// MaxInFlight bounds the bytes of message bodies the hub holds in
	// memory: queued, being handled or waiting. Default 24MiB (one 10MiB body
	// per pipeline at a time, thousands of small messages). When it is
	// reached, HTTP ingest answers 503 with Retry-After before reading the
	// body, polled sources leave their files for the next poll, and the
	// start-up sweep leaves the rest of a backlog in the log until there
	// is room. Nothing accepted is dropped.
	MaxInFlight adapters.ByteSize `yaml:"max_in_flight"`
	// MaxQueue bounds the messages waiting on one pipeline's queue, with
	// the same answer when it is reached. Default 1000.
	MaxQueue int `yaml:"max_queue"`
	// MaxIngestRate bounds the body bytes per second that one ingest path
	// (an HTTP path, a polled source) may bring in, with the same answer
	// when it is over: a flood of large bodies on one path cannot take the
	// disk and the store's writer from the others (the memory benchmark:
	// orders p50 from seconds to milliseconds). A body larger than a
	// second's worth goes in, and the path then waits. Default 8MiB.
	MaxIngestRate adapters.ByteSize `yaml:"max_ingest_rate"`
}

// HTTP configures the server.
type HTTP struct {
	// Listen is the address to listen on. Default "127.0.0.1:8080"; empty
	// string with disabled: true serves nothing.
	Listen string `yaml:"listen"`
	// Disabled turns the HTTP server off.
	Disabled bool `yaml:"disabled"`
	// TLS turns on HTTPS and, with client_ca, mutual TLS.
	TLS TLS `yaml:"tls"`
	// MaxBody is the largest request body accepted on /ingest, e.g. 10MiB.
	MaxBody adapters.ByteSize `yaml:"max_body"`
	// Operators may read /metrics and the reasons behind /readyz: the
	// monitoring system's and the operators' certificates. Everyone else
	// gets 403 from /metrics and only the status from /readyz; /healthz
	// answers everyone. Required in production; outside it, unset means
	// any caller.
	Operators *Allow `yaml:"operators"`
}

// TLS configures HTTPS.
type TLS struct {
	// Cert and Key are PEM files of the server certificate and key.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCA, if set, is a PEM file of the CA(s) whose client certificates
	// are accepted; every request without one is refused. The certificate
	// subject's serialNumber (an HSA-ID in SITHS certificates) identifies
	// the caller.
	ClientCA string `yaml:"client_ca"`
}

// Log configures logging.
type Log struct {
	// Format is "json" (default in production) or "console".
	Format string `yaml:"format"`
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
}

// Default returns the configuration used when no file is given, with paths
// relative to dir.
func Default(dir string) *Config {
	return &Config{
		Environment:     Development,
		Store:           Store{DSN: "knut.db"},
		Bus:             Bus{Kind: "embedded", MaxInFlight: 24 << 20, MaxQueue: 1000, MaxIngestRate: 8 << 20},
		HTTP:            HTTP{Listen: "127.0.0.1:8080", MaxBody: 10 << 20},
		Pipelines:       "pipelines",
		Mappings:        "mappings",
		Schemas:         "schemas",
		Log:             Log{Level: "info"},
		ShutdownTimeout: 30 * time.Second,
		Visits:          Visits{AcrossMidnight: MidnightRule(homecare.StartDay)},
		Locks:           Locks{ConvergeInterval: time.Minute, ResendAfter: 15 * time.Minute},
		Reconciliation:  Reconciliation{ReportDay: 6},
		dir:             dir,
	}
}

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a config strictly over the defaults and validates it.
func Parse(path string, data []byte) (*Config, error) {
	c := Default(filepath.Dir(path))
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	var te *yaml.TypeError
	if err != nil && !errors.Is(err, io.EOF) && !errors.As(err, &te) {
		return nil, decodeError(path, data, err) // not YAML: nothing to validate
	}
	var errs []error
	if te != nil { // the rest was decoded: report its problems too
		errs = append(errs, decodeError(path, data, te))
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// decodeError puts each YAML problem on a line of its own as
// "file:line: problem", an unknown key with its full path and the keys
// that would have been known there.
func decodeError(path string, data []byte, err error) error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		line, problem := YAMLProblem(data, m)
		problem = adapters.UnknownKeys(problem, reflect.TypeFor[Config]())
		if line > 0 {
			errs[i] = fmt.Errorf("%s:%d: %s", path, line, problem)
		} else {
			errs[i] = fmt.Errorf("%s: %s", path, problem)
		}
	}
	return errors.Join(errs...)
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parserProblems are the syntax errors go.yaml.in/yaml/v3 reports with a
// zero-based line (its parser's marks, unlike its scanner's, are not moved
// on by one before the message is made), so one line early.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// YAMLProblem splits one YAML error message ("yaml: line 3: ..." for a
// syntax error in data, "line 3: ..." for one of a TypeError's) into its
// one-based line, 0 if it names none, and the problem. Every loader of YAML
// files reports positions through it, so a syntax error names the same,
// right line wherever it is found.
func YAMLProblem(data []byte, msg string) (line int, problem string) {
	msg = strings.TrimPrefix(msg, "decode: ")
	syntax := strings.HasPrefix(msg, "yaml: ")
	g := yamlLine.FindStringSubmatch(msg)
	if g == nil {
		problem = strings.TrimPrefix(msg, "yaml: ")
	} else {
		line, _ = strconv.Atoi(g[1])
		problem = g[2]
	}
	if !syntax || !parserProblems[problem] {
		return line, problem
	}
	if blockProblems[problem] {
		if n := firstFailingLine(data, problem); n > 0 {
			return n, problem
		}
	}
	// A flow collection is reported where it opens, unless that is the
	// first line: then the library falls back to where it noticed, often
	// the end of the file.
	if flowProblems[problem] && firstFailingLine(firstLine(data), problem) == 1 {
		return 1, problem
	}
	return line + 1, problem
}

// blockProblems are reported at the start of the block collection they
// break, which may be far above the line that breaks it.
var blockProblems = map[string]bool{
	"did not find expected key":           true,
	"did not find expected '-' indicator": true,
}

var flowProblems = map[string]bool{
	"did not find expected ',' or ']'":   true,
	"did not find expected ',' or '}'":   true,
	"did not find expected node content": true,
}

func firstLine(data []byte) []byte {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i+1]
	}
	return data
}

// firstFailingLine is the first line n such that data's first n lines fail
// to parse with problem: the line that breaks the collection. Only called
// for a file that failed, so the repeated parses cost nothing in use.
func firstFailingLine(data []byte, problem string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	end := 0
	for n, l := range lines {
		end += len(l)
		var doc yaml.Node
		err := yaml.Unmarshal(data[:end], &doc)
		if err == nil {
			continue
		}
		if strings.HasSuffix(err.Error(), ": "+problem) || err.Error() == "yaml: "+problem {
			return n + 1
		}
	}
	return 0
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Store.DSN == "" {
		errs = append(errs, errors.New("store.dsn: is required"))
	}
	if c.Environment == Production && c.Store.Key.IsZero() {
		errs = append(errs, errors.New("store.key: is required in production"))
	}
	if !c.Store.Key.IsZero() {
		if err := c.Store.Key.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("store.key: %w", err))
		}
	}
	switch c.Bus.Kind {
	case "embedded":
	default:
		errs = append(errs, fmt.Errorf("bus.kind: %q: want embedded", c.Bus.Kind))
	}
	if (c.HTTP.TLS.Cert == "") != (c.HTTP.TLS.Key == "") {
		errs = append(errs, errors.New("http.tls: cert and key go together"))
	}
	if c.HTTP.TLS.ClientCA != "" && c.HTTP.TLS.Cert == "" {
		errs = append(errs, errors.New("http.tls.client_ca: needs cert and key"))
	}
	if c.Environment == Production && !c.HTTP.Disabled && c.HTTP.TLS.ClientCA == "" {
		errs = append(errs, errors.New("http.tls.client_ca: is required in production (mutual TLS)"))
	}
	if c.Environment == Production && !c.HTTP.Disabled {
		switch {
		case c.HTTP.Operators == nil:
			errs = append(errs, errors.New("http.operators: is required in production (who may read /metrics and /readyz detail: hsa_id, org_no or subject)"))
		case c.HTTP.Operators.Any:
			errs = append(errs, errors.New("http.operators: any is refused in production: list the monitoring system's and operators' certificates"))
		}
	}
	if c.Bus.MaxInFlight <= 0 {
		errs = append(errs, errors.New("bus.max_in_flight: must be a positive size such as 24MiB"))
	}
	if c.Bus.MaxQueue <= 0 {
		errs = append(errs, errors.New("bus.max_queue: must be a positive number of messages such as 1000"))
	}
	if c.Bus.MaxIngestRate <= 0 {
		errs = append(errs, errors.New("bus.max_ingest_rate: must be a positive size (per second) such as 8MiB"))
	}
	if c.MemoryLimit < 0 {
		errs = append(errs, errors.New("memory_limit: must be a size such as 192MiB, or 0 for the runtime's default"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown_timeout: must be a positive duration such as 30s"))
	}
	if c.Locks.KeysPipeline != "" && c.Locks.Vendor == "" {
		errs = append(errs, errors.New("locks.vendor: is required with locks.keys_pipeline (the vendor the grants are at, e.g. nuki)"))
	}
	if c.Locks.ConvergeInterval <= 0 {
		errs = append(errs, errors.New("locks.converge_interval: must be a positive duration such as 1m"))
	}
	if c.Locks.ResendAfter <= 0 {
		errs = append(errs, errors.New("locks.resend_after: must be a positive duration such as 15m"))
	}
	if c.Reconciliation.ReportDay < 1 || c.Reconciliation.ReportDay > 28 {
		errs = append(errs, errors.New("reconciliation.report_day: must be a day of the month from 1 to 28"))
	}
	if c.Reconciliation.ReportPipeline != "" && c.Reconciliation.RuleSet == "" {
		errs = append(errs, errors.New("reconciliation.rule_set: is required with reconciliation.report_pipeline (the rules the payment basis is computed by)"))
	}
	if c.HTTP.MaxBody <= 0 {
		errs = append(errs, errors.New("http.max_body: must be a positive size such as 512KiB or 10MiB"))
	}
	switch c.Log.Format {
	case "", "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q: want json or console", c.Log.Format))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q: want debug, info, warn or error", c.Log.Level))
	}
	return errors.Join(errs...)
}

// Path resolves p against the config file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// IsPostgres reports whether the store is PostgreSQL.
func (c *Config) IsPostgres() bool {
	return strings.HasPrefix(c.Store.DSN, "postgres://") || strings.HasPrefix(c.Store.DSN, "postgresql://")
}

// StoreDSN is the store DSN with a relative SQLite path resolved.
func (c *Config) StoreDSN() string {
	if c.IsPostgres() {
		return c.Store.DSN
	}
	return c.Path(c.Store.DSN)
}
