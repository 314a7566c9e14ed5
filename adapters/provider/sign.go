package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignaturePrefix starts every X-Knutpunkt-Signature value; it names the
// algorithm so a later one can be added beside it.
const SignaturePrefix = "sha256="

// Sign returns the X-Knutpunkt-Timestamp and X-Knutpunkt-Signature values
// for a request with Idempotency-Key idemKey and body, signed at ts with key:
//
//	timestamp = decimal Unix seconds of ts
//	signature = "sha256=" + lowercase_hex(HMAC-SHA256(key, timestamp + "." + idemKey + "." + body))
//
// body is the exact bytes sent on the wire. The idempotency key is inside
// the signed string so that a captured request cannot be sent again under
// another key (which the receiver would take for a new message); an empty
// key is signed as empty. The same scheme signs the hub's deliveries to a
// provider and a provider's callbacks to the hub.
func Sign(key []byte, ts time.Time, idemKey string, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	return timestamp, SignaturePrefix + hex.EncodeToString(mac(key, timestamp, idemKey, body))
}

func mac(key []byte, timestamp, idemKey string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write([]byte(idemKey))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// SignatureError is why Verify refused a request. Its text is safe to send
// back to the caller: it never contains the key or the expected signature.
type SignatureError struct {
	Reason string
}

func (e *SignatureError) Error() string { return e.Reason }

// Verify checks the timestamp and signature headers of a request with
// Idempotency-Key idemKey and body against keys, as a provider (or the
// hub's callback endpoint) does: both headers present, the signature a
// well-formed "sha256=<64 hex>" equal in constant time to the one made
// with one of keys, and the timestamp no further than maxSkew from now,
// either way. More than one key is accepted while a secret is rotated:
// the new one first, the old one until every sender has moved. It returns
// a *SignatureError.
func Verify(keys [][]byte, timestamp, signature, idemKey string, body []byte, now time.Time, maxSkew time.Duration) error {
	switch {
	case signature == "":
		return &SignatureError{"missing " + HeaderSignature + " header: sign each request with the shared secret"}
	case timestamp == "":
		return &SignatureError{"missing " + HeaderTimestamp + " header: send the Unix time the request was signed"}
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return &SignatureError{HeaderTimestamp + " is not Unix seconds"}
	}
	hexSig, ok := strings.CutPrefix(signature, SignaturePrefix)
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return &SignatureError{HeaderSignature + ` must be "sha256=" followed by 64 hex digits`}
	}
	match := false
	for _, k := range keys {
		// Every key is tried, so the time taken does not tell which matched.
		match = hmac.Equal(got, mac(k, timestamp, idemKey, body)) || match
	}
	if !match {
		return &SignatureError{HeaderSignature + " does not match: wrong secret, or the timestamp, " +
			HeaderIdempotencyKey + " or body changed after signing (the signed string is timestamp.key.body)"}
	}
	skew := now.Sub(time.Unix(sec, 0))
	if skew > maxSkew || skew < -maxSkew {
		return &SignatureError{fmt.Sprintf("%s is %v off the receiver's clock, more than %v: sign each attempt anew", HeaderTimestamp, skew.Round(time.Second), maxSkew)}
	}
	return nil
}

// Keys splits a resolved secret into its keys, one per line, the signing
// key first: during a rotation the secret holds the new key and the old
// one, and Verify accepts both. Blank lines and surrounding space are
// ignored.
func Keys(secret string) [][]byte {
	var keys [][]byte
	for line := range strings.Lines(secret) {
		if k := strings.TrimSpace(line); k != "" {
			keys = append(keys, []byte(k))
		}
	}
	return keys
}
