package adapters

import "context"

type callerKey struct{}

// WithCaller returns ctx carrying the authenticated caller of an inbound
// request: the HSA-ID from the client certificate's subject serialNumber.
// The hub's server sets it before an Ingress handler runs.
func WithCaller(ctx context.Context, caller string) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

// CallerFromContext returns the caller set by WithCaller, or "".
func CallerFromContext(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}
