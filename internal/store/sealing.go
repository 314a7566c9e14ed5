package store

import (
	"bytes"
	"errors"
	"fmt"
)

// Message bodies carry personal data (a client's personnummer, name and
// address in an order), so a store with keys keeps them encrypted at rest:
// AES-256-GCM with the person id encryption key, bound to the message id.
// A sealed body starts with sealedMagic; bodies of a store opened without
// keys, and rows written before sealing, are stored as they came.
var sealedMagic = []byte("\x00knut-sealed\x01")

const bodyDomain = "knutpunkt/message-body/v1\x00"

// Sealer encrypts and decrypts message bodies for other stores of message
// data, such as the embedded bus, with the store's key.
type Sealer interface {
	Seal(msgID string, body []byte) []byte
	Open(msgID string, sealed []byte) ([]byte, error)
}

// Sealer returns the store's body sealer, nil when the store has no keys.
func (s *Store) Sealer() Sealer {
	if s.pid == nil {
		return nil
	}
	return bodySealer{s.pid}
}

type bodySealer struct{ c *personIDCodec }

func (b bodySealer) Seal(msgID string, body []byte) []byte {
	return append(append([]byte(nil), sealedMagic...), b.c.seal(body, bodyDomain+msgID)...)
}

func (b bodySealer) Open(msgID string, sealed []byte) ([]byte, error) {
	enc, ok := bytes.CutPrefix(sealed, sealedMagic)
	if !ok {
		return sealed, nil // stored before sealing, or by a store without keys
	}
	pt, err := b.c.open(enc, bodyDomain+msgID)
	if err != nil {
		return nil, fmt.Errorf("message %s body: %w", msgID, err)
	}
	return pt, nil
}

// sealBody is what PrepareInbound stores as the body.
func (s *Store) sealBody(msgID string, body []byte) []byte {
	if s.pid == nil {
		return body
	}
	return bodySealer{s.pid}.Seal(msgID, body)
}

// openBody reverses sealBody; a sealed body in a store without keys is an
// error, never returned as if it were the payload.
func (s *Store) openBody(msgID string, body []byte) ([]byte, error) {
	if s.pid == nil {
		if bytes.HasPrefix(body, sealedMagic) {
			return nil, errors.New("message " + msgID + " body is sealed and the store has no keys")
		}
		return body, nil
	}
	return bodySealer{s.pid}.Open(msgID, body)
}
