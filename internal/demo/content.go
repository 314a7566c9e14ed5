package demo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/mappings"
	"github.com/knutpunkt/knutpunkt/pipelines"
	"github.com/knutpunkt/knutpunkt/rulesets"
	"github.com/knutpunkt/knutpunkt/schemas"
)

// embeddedVars are the vars of the repository's knut.yaml that the demo
// does not point at its simulators itself: the secret references its
// Secrets resolve. TestEmbeddedConfig keeps them equal to knut.yaml's.
var embeddedVars = map[string]string{
	"omsorg_norr_secret":              "env:KNUT_OMSORG_NORR_WEBHOOK_SECRET",
	"hemtjanst_soder_sftp_password":   "env:KNUT_HEMTJANST_SODER_SFTP_PASSWORD",
	"hemtjanst_soder_callback_secret": "env:KNUT_HEMTJANST_SODER_CALLBACK_SECRET",
	"omsorg_norr_callback_secret":     "env:KNUT_OMSORG_NORR_CALLBACK_SECRET",
	// The demo's simulators post over plain HTTP on loopback, without
	// certificates: development's explicit allow-everyone.
	"lifecare_callers":        "any",
	"tes_callers":             "any",
	"hemtjanst_soder_callers": "any",
	"omsorg_norr_callers":     "any",
	// The HSA directory (pipelines/hsa_staff.yaml); StartDirectory points the
	// rest at its simulator where the RIV-TA contracts are found.
	"hsa_url":              "https://127.0.0.1:8093/hsa",
	"hsa_logical_address":  "TSTNMT2321000156-HSA0",
	"hsa_contracts":        "/usr/share/knut/riv-ta-hsa",
	"hsa_cert_file":        "/etc/knut/hsa-function.pem",
	"hsa_key":              "env:KNUT_HSA_CLIENT_KEY",
	"hsa_ca_file":          "/etc/knut/siths-ca.pem",
	"hsa_poll_interval":    "1h",
	"omsorg_norr_hsa_unit": "TSTNMT2321000156-ON01",
	"hsa_allow_test_ids":   "true",
	// The Nuki Web API (pipelines/nuki_*.yaml); StartLocks points the rest at its simulator.
	"nuki_url":               "https://api.nuki.io",
	"nuki_token":             "env:KNUT_NUKI_TOKEN",
	"nuki_user_email_domain": "nycklar.demo-kommun.example",
	"nuki_poll_interval":     "1m",
	"nuki_grants_interval":   "15m",
}

// embeddedLocks are knut.yaml's key lifecycle settings (TestEmbeddedConfig keeps them equal).
var embeddedLocks = config.Locks{Vendor: "nuki", KeysPipeline: "nuki_keys", ConvergeInterval: time.Minute, ResendAfter: 15 * time.Minute}

// embeddedReconciliation are knut.yaml's reconciliation settings (TestEmbeddedConfig keeps them equal).
var embeddedReconciliation = config.Reconciliation{RuleSet: "rulesets/demo.yaml", ReportPipeline: "lifecare_payment_basis", ReportDay: 6}

// embeddedDisabled are knut.yaml's disabled pipelines (TestEmbeddedConfig keeps them equal).
var embeddedDisabled = []string{"hsa_staff"}

// embeddedOrders are knut.yaml's order rules (TestEmbeddedConfig keeps them equal).
var embeddedOrders = config.Orders{InferExecutionFromVisits: []string{"lifecare"}, ReceiptsPipeline: "lifecare_receipts"}

// embeddedVisits are knut.yaml's visit rules (TestEmbeddedConfig keeps them equal).
var embeddedVisits = config.Visits{AcrossMidnight: config.MidnightRule(homecare.StartDay), ExecutedPipeline: "lifecare_executed"}

// IsCheckout reports whether dir holds the demo's content as files (a
// repository checkout): knut.yaml and the pipelines directory.
func IsCheckout(dir string) bool {
	for _, name := range []string{"knut.yaml", "pipelines"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// writeEmbedded writes the pipelines, mappings and schemas built into the
// binary under dir and returns the demo's configuration for them. The hub
// then loads them from disk the one way it always does; the copy is
// rewritten on every run, so a kept --dir never runs stale content.
func writeEmbedded(dir string) (*config.Config, error) {
	for name, content := range map[string]fs.FS{"pipelines": pipelines.FS, "mappings": mappings.FS, "schemas": schemas.FS, "rulesets": rulesets.FS} {
		target := filepath.Join(dir, name)
		if err := os.RemoveAll(target); err != nil {
			return nil, fmt.Errorf("demo: content: %w", err)
		}
		if err := os.CopyFS(target, content); err != nil {
			return nil, fmt.Errorf("demo: write the built-in %s to %s: %w", name, target, err)
		}
	}
	cfg := config.Default(dir)
	cfg.Vars = map[string]string{}
	for k, v := range embeddedVars {
		cfg.Vars[k] = v
	}
	cfg.Orders = embeddedOrders
	cfg.Visits = embeddedVisits
	cfg.DisabledPipelines = slices.Clone(embeddedDisabled)
	cfg.Locks = embeddedLocks
	cfg.Reconciliation = embeddedReconciliation
	if err := cfg.Validate(); err != nil {
		return nil, errors.Join(errors.New("demo: built-in config"), err)
	}
	return cfg, nil
}
