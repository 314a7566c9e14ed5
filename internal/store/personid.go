package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// personIDCodec turns a person id (personnummer or samordningsnummer, 12
// digits; a reserve number, 12 characters with a letter in the ninth) into
// what the clients table stores (DOMAIN.md §8a):
//
//   - person_id_hash: HMAC-SHA256(PersonIDKey, "knutpunkt/person-id/v1\x00" + digits),
//     32 bytes. Deterministic, so it is the lookup and join key (UNIQUE); keyed, so
//     a leaked database cannot be reversed by hashing all ~10^9 possible numbers.
//   - person_id_enc: version byte 1, a random 12-byte nonce, then
//     AES-256-GCM(PersonIDEncryptionKey) of the digits with the hash as
//     additional data, which binds the ciphertext to its row.
//
// The two keys are separate so that a component that may look clients up
// (hash) need not be able to read identities (decrypt).
type personIDCodec struct {
	aead cipher.AEAD
	macs sync.Pool // of hash.Hash keyed with PersonIDKey
}

const personIDEncVersion = 1

var personIDHashDomain = []byte("knutpunkt/person-id/v1\x00")

func newPersonIDCodec(hashKey, encKey []byte) (*personIDCodec, error) {
	if len(hashKey) < 32 {
		return nil, errors.New("person id key: want at least 32 bytes")
	}
	if len(encKey) != 32 {
		return nil, errors.New("person id encryption key: want 32 bytes (AES-256)")
	}
	if bytes.Equal(hashKey, encKey) {
		return nil, errors.New("person id keys: the lookup and encryption keys must differ")
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("person id encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("person id encryption key: %w", err)
	}
	key := bytes.Clone(hashKey)
	c := &personIDCodec{aead: aead}
	c.macs.New = func() any { return hmac.New(sha256.New, key) }
	return c, nil
}

func (c *personIDCodec) hash(digits string) []byte {
	m := c.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(personIDHashDomain)
	m.Write([]byte(digits))
	sum := m.Sum(nil)
	c.macs.Put(m)
	return sum
}

func (c *personIDCodec) encrypt(digits string, hash []byte) []byte {
	ns := c.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(digits)+c.aead.Overhead())
	out[0] = personIDEncVersion
	rand.Read(out[1 : 1+ns]) // crypto/rand.Read never returns an error
	return c.aead.Seal(out, out[1:1+ns], []byte(digits), hash)
}

func (c *personIDCodec) decrypt(enc, hash []byte) (string, error) {
	ns := c.aead.NonceSize()
	if len(enc) < 1+ns || enc[0] != personIDEncVersion {
		return "", errors.New("decrypt person id: unknown format")
	}
	pt, err := c.aead.Open(nil, enc[1:1+ns], enc[1+ns:], hash)
	if err != nil {
		return "", errors.New("decrypt person id: wrong key or tampered row")
	}
	return string(pt), nil
}

// validPersonDigits reports whether s is 12 ASCII digits (a reserve number: a capital
// letter in the ninth place), the normalised
// form the store accepts. Full validation (Luhn, date) is homecare's job at
// the edge.
func validPersonDigits(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && (i != 8 || s[i] < 'A' || s[i] > 'Z') { // a reserve number's letter
			return false
		}
	}
	return true
}
