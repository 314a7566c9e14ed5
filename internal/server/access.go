package server

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// Who may call what (README, "Security"): every ingest path answers only
// the callers its pipeline's allow list names; /metrics and /readyz detail
// only those of http.operators; /healthz everyone. A refusal is a 403 and a
// record in the audit trail.

// principal is a caller as its verified client certificate names it.
type principal struct {
	HSAID   string // subject serialNumber (SITHS: the HSA-ID)
	OrgNo   string // organizationIdentifier, or the HSA-ID's organisation part
	Subject string // RFC 2253 text
}

// oidOrganizationIdentifier is X.520 organizationIdentifier (2.5.4.97),
// where eIDAS-style certificates put "NTRSE-<organisationsnummer>".
var oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// principalOf names the caller of r; zero without a verified certificate.
func principalOf(r *http.Request) principal {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return principal{}
	}
	return certPrincipal(r.TLS.VerifiedChains[0][0])
}

func certPrincipal(c *x509.Certificate) principal {
	p := principal{HSAID: c.Subject.SerialNumber, Subject: c.Subject.String()}
	for _, n := range c.Subject.Names {
		if v, ok := n.Value.(string); ok && n.Type.Equal(oidOrganizationIdentifier) {
			p.OrgNo = strings.TrimPrefix(v, "NTRSE-")
		}
	}
	// "SE" + 10-digit organisationsnummer + "-" + local part.
	if p.OrgNo == "" && len(p.HSAID) > 13 && strings.HasPrefix(p.HSAID, "SE") && p.HSAID[12] == '-' {
		p.OrgNo = p.HSAID[2:12]
	}
	return p
}

// actor is the principal as the audit trail names it.
func (p principal) actor() string {
	switch {
	case p.HSAID != "":
		return "hsa:" + p.HSAID
	case p.Subject != "":
		return "cert:" + p.Subject
	}
	return "anonymous"
}

// allows reports whether a lets p in; staff is what the directory syncs say of p's
// HSA-ID (zero when they list it nowhere).
func allows(a *pipeline.Allow, p principal, staff store.StaffCaller) bool {
	switch {
	case a == nil:
		return false
	case a.Any:
		return true
	}
	return p.HSAID != "" && slices.Contains(a.HSAIDs, p.HSAID) ||
		p.OrgNo != "" && slices.Contains(a.OrgNos, p.OrgNo) ||
		p.Subject != "" && slices.Contains(a.Subjects, p.Subject) ||
		staff.ProviderID != "" && staff.LeftOn.IsZero() && slices.Contains(a.Providers, staff.ProviderID)
}

// guard answers 403, and audits the refusal, for a caller a does not let
// in; what refers to the resource in the record ("pipeline:lifecare_orders").
func guard(a *pipeline.Allow, what string, st *store.Store, log *zap.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		// A certificate's HSA-ID the directory syncs list names a person and their
		// provider; one whose holder left is refused whatever the allow list says,
		// from the sync that found it, without a restart.
		var staff store.StaffCaller
		if p.HSAID != "" {
			var err error
			if staff, _, err = st.StaffByHSAID(r.Context(), p.HSAID); err != nil {
				log.Error("look up the caller's HSA-ID", zap.Error(err))
				writeError(w, http.StatusServiceUnavailable, "the hub cannot check this caller now; retry later")
				return
			}
		}
		detail := "not on the allow list"
		switch {
		case !staff.LeftOn.IsZero():
			detail = "the certificate's holder left " + staff.ProviderID + " on " + staff.LeftOn.String() + " (directory " + staff.Directory + ")"
		case allows(a, p, staff):
			next.ServeHTTP(w, r)
			return
		case staff.ProviderID != "":
			detail += " (staff of " + staff.ProviderID + ")"
		}
		if _, err := st.Audit(r.Context(), store.AuditEntry{Actor: p.actor(), Action: "http." + r.Method, Outcome: store.AuditDenied,
			Resource: what, Detail: detail + "; path " + r.URL.Path}); err != nil {
			log.Error("audit a refusal", zap.Error(err))
			writeError(w, http.StatusServiceUnavailable, "the hub cannot record this request now; retry later")
			return
		}
		log.Warn("caller refused", zap.String("caller", p.actor()), zap.String("path", r.URL.Path))
		writeError(w, http.StatusForbidden, "this certificate may not call "+r.URL.Path)
	})
}

// ingressFor is a pipeline's view of the hub's ingress: what it mounts is
// guarded by its allow list. In production a pipeline without one, or
// with `allow: any`, cannot mount anything, and the hub does not start.
type ingressFor struct {
	in   *ingress
	plan *pipeline.Plan
	env  config.Environment
	st   *store.Store
	log  *zap.Logger
}

// errUnguarded is why an unguarded pipeline may not mount an ingest path.
var errUnguarded = errors.New("an HTTP-reachable pipeline must name its callers")

func (f ingressFor) Handle(name string, h http.Handler) error {
	a := f.plan.Allow
	switch {
	case a == nil && f.env == config.Production:
		return fmt.Errorf("%w: pipeline %s receives on /ingest/%s but has no allow: list (hsa_id, org_no or subject)",
			errUnguarded, f.plan.Name, name)
	case a != nil && a.Any && f.env == config.Production:
		return fmt.Errorf("%w: pipeline %s has allow: any, which production refuses: list its callers (hsa_id, org_no or subject)",
			errUnguarded, f.plan.Name)
	case a == nil:
		f.log.Warn("pipeline receives on HTTP without an allow: list; every caller is let in outside production",
			zap.String("pipeline", f.plan.Name), zap.String("path", "/ingest/"+name))
		a = &pipeline.Allow{Any: true}
	}
	return f.in.Handle(name, guard(a, "pipeline:"+f.plan.Name, f.st, f.log, h))
}

var _ adapters.Ingress = ingressFor{}
