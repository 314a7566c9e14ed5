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
// for body signed at ts with key:
//
//	timestamp = decimal Unix seconds of ts
//	signature = "sha256=" + lowercase_hex(HMAC-SHA256(key, timestamp + "." + body))
//
// body is the exact bytes sent on the wire. The same scheme signs the hub's
// deliveries to a provider and a provider's callbacks to the hub.
func Sign(key []byte, ts time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	return timestamp, SignaturePrefix + hex.EncodeToString(mac(key, timestamp, body))
}

func mac(key []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(timestamp))
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

// Verify checks the timestamp and signature headers of a request with body
// against key, as a provider (or the hub's callback endpoint) does: both
// headers present, the signature a well-formed "sha256=<64 hex>" equal in
// constant time to the expected one, and the timestamp no further than
// maxSkew from now, either way. It returns a *SignatureError.
func Verify(key []byte, timestamp, signature string, body []byte, now time.Time, maxSkew time.Duration) error {
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
	if !hmac.Equal(got, mac(key, timestamp, body)) {
		return &SignatureError{HeaderSignature + " does not match: wrong secret, or the body or timestamp changed after signing"}
	}
	skew := now.Sub(time.Unix(sec, 0))
	if skew > maxSkew || skew < -maxSkew {
		return &SignatureError{fmt.Sprintf("%s is %v off the receiver's clock, more than %v: sign each attempt anew", HeaderTimestamp, skew.Round(time.Second), maxSkew)}
	}
	return nil
}
