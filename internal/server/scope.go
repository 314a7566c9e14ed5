package server

import (
	"context"
	"fmt"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// orderScope is the adapters.OrderScope of the hub's order store: a
// provider may touch only its own orders, and every refusal is audited.
type orderScope struct{ st *store.Store }

func (o orderScope) CheckProvider(ctx context.Context, provider, orderID, caller string) error {
	refs, err := o.st.OrdersByExternalID(ctx, orderID)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.ProviderRef == provider {
			return nil
		}
	}
	e := store.AuditEntry{Actor: homecare.ByPrefix + provider, Action: "callback", Outcome: store.AuditDenied,
		Resource: "order:" + orderID, Detail: "order_id names no order of this provider"}
	if len(refs) == 1 {
		e.Resource = "order:" + refs[0].SourceSystem + "/" + orderID
		e.OrderSource, e.OrderID = refs[0].SourceSystem, orderID
	}
	if caller != "" {
		e.Detail += "; certificate " + caller
	}
	if _, err := o.st.Audit(ctx, e); err != nil {
		return err
	}
	return fmt.Errorf("%w: order %s is not an order of provider %s", adapters.ErrForbidden, orderID, provider)
}

// replayGuard is the adapters.ReplayGuard of the store: signatures survive
// a restart.
type replayGuard struct{ st *store.Store }

func (r replayGuard) Seen(ctx context.Context, scope, sig string, expires time.Time) (bool, error) {
	return r.st.SeeSignature(ctx, scope, sig, expires)
}

func (r replayGuard) Forget(ctx context.Context, scope, sig string) error {
	return r.st.ForgetSignature(ctx, scope, sig)
}
