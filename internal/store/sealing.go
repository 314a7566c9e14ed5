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

// sealBody is what PrepareInbound stores as the body.
func (s *Store) sealBody(msgID string, body []byte) []byte {
	if s.pid == nil {
		return body
	}
	return append(append([]byte(nil), sealedMagic...), s.pid.seal(body, bodyDomain+msgID)...)
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
	enc, ok := bytes.CutPrefix(body, sealedMagic)
	if !ok {
		return body, nil // stored before sealing, or by a store without keys
	}
	pt, err := s.pid.open(enc, bodyDomain+msgID)
	if err != nil {
		return nil, fmt.Errorf("message %s body: %w", msgID, err)
	}
	return pt, nil
}
