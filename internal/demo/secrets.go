package demo

import "github.com/knutpunkt/knutpunkt/adapters"

// Secrets resolves the secret references of the repository's knut.yaml to
// the demo's own values, and any other reference from the environment and
// files as usual. The demo's providers are simulators; these values protect
// nothing real.
func Secrets(extra adapters.MapSecrets) adapters.SecretResolver {
	m := adapters.MapSecrets{
		"env:KNUT_OMSORG_NORR_WEBHOOK_SECRET":      "demo-omsorg-norr-webhook-secret",
		"env:KNUT_HEMTJANST_SODER_CALLBACK_SECRET": "demo-hemtjanst-soder-callback-secret",
		"env:KNUT_OMSORG_NORR_CALLBACK_SECRET":     "demo-omsorg-norr-callback-secret",
		"env:KNUT_HEMTJANST_SODER_SFTP_PASSWORD":   "demo-sftp-password",
	}
	for k, v := range extra {
		m[k] = v
	}
	return fallback{m}
}

type fallback struct{ m adapters.MapSecrets }

func (f fallback) Resolve(s adapters.Secret) (string, error) {
	if v, ok := f.m[s]; ok {
		return v, nil
	}
	return adapters.EnvSecrets{}.Resolve(s)
}

// withSecrets resolves extra's references first and the rest through r.
func withSecrets(r adapters.SecretResolver, extra adapters.MapSecrets) adapters.SecretResolver {
	if len(extra) == 0 {
		return r
	}
	return layered{extra, r}
}

type layered struct {
	first adapters.MapSecrets
	next  adapters.SecretResolver
}

func (l layered) Resolve(s adapters.Secret) (string, error) {
	if v, ok := l.first[s]; ok {
		return v, nil
	}
	return l.next.Resolve(s)
}
