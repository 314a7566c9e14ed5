package provider

import (
	"errors"
	"sync"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// keyring is a shared secret resolved anew on every use, so that a
// provider's key rotates without a restart: put the new key on the line
// above the old one in the secret's file (file:/path), tell the provider,
// and delete the old line once it has moved. The first key signs; every
// key verifies (Keys). Should the secret become unreadable or empty, the
// last keys read stay in use rather than refusing every request.
type keyring struct {
	ref adapters.Secret
	res adapters.SecretResolver

	mu   sync.Mutex
	last [][]byte
}

func newKeyring(ref adapters.Secret, res adapters.SecretResolver) (*keyring, error) {
	v, err := res.Resolve(ref)
	if err != nil {
		return nil, err
	}
	keys := Keys(v)
	if len(keys) == 0 {
		return nil, errors.New("is empty")
	}
	return &keyring{ref: ref, res: res, last: keys}, nil
}

// keys returns the keys as the secret holds them now.
func (k *keyring) keys() [][]byte {
	v, err := k.res.Resolve(k.ref)
	k.mu.Lock()
	defer k.mu.Unlock()
	if keys := Keys(v); err == nil && len(keys) > 0 {
		k.last = keys
	}
	return k.last
}

// signing returns the key that signs: the first.
func (k *keyring) signing() []byte { return k.keys()[0] }
