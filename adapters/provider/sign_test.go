package provider_test

import (
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/provider"
)

// The README's test vector, computed independently with
//
//	printf '%s.%s.%s' 1767225600 ON-ACK-0001 '{"order_id":"U-2026-0001","status":"mottagen"}' |
//	  openssl dgst -sha256 -hmac 'whsec-exempel-0001' -hex
var (
	vectorKey  = []byte("whsec-exempel-0001")
	vectorTime = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z
	vectorIdem = "ON-ACK-0001"
	vectorBody = []byte(`{"order_id":"U-2026-0001","status":"mottagen"}`)
	vectorSig  = "sha256=97f2545cb5a5d72ea05192adc499105af650a2d84a60452b795452057e70cb45"
)

func TestSign(t *testing.T) {
	ts, sig := provider.Sign(vectorKey, vectorTime, vectorIdem, vectorBody)
	if ts != "1767225600" || sig != vectorSig {
		t.Errorf("Sign(test vector) = %q, %q, want %q, %q", ts, sig, "1767225600", vectorSig)
	}
}

func TestVerify(t *testing.T) {
	now := vectorTime.Add(90 * time.Second)
	tests := []struct {
		name      string
		ts, sig   string
		idem      string
		body      string
		key       string
		wantError string // "" means valid
	}{
		{"good", "1767225600", vectorSig, vectorIdem, string(vectorBody), string(vectorKey), ""},
		{"upper-case hex", "1767225600", strings.ToUpper(vectorSig[:7]) + strings.ToUpper(vectorSig[7:]), vectorIdem, string(vectorBody), string(vectorKey), `must be "sha256="`},
		{"upper-case hex digits", "1767225600", "sha256=" + strings.ToUpper(vectorSig[7:]), vectorIdem, string(vectorBody), string(vectorKey), ""},
		{"idempotency key changed", "1767225600", vectorSig, "ON-ACK-0002", string(vectorBody), string(vectorKey), "does not match"},
		{"idempotency key dropped", "1767225600", vectorSig, "", string(vectorBody), string(vectorKey), "does not match"},
		{"missing signature", "1767225600", "", vectorIdem, string(vectorBody), string(vectorKey), "missing X-Knutpunkt-Signature"},
		{"missing timestamp", "", vectorSig, vectorIdem, string(vectorBody), string(vectorKey), "missing X-Knutpunkt-Timestamp"},
		{"timestamp not a number", "2026-01-01T00:00:00Z", vectorSig, vectorIdem, string(vectorBody), string(vectorKey), "not Unix seconds"},
		{"no algorithm prefix", "1767225600", vectorSig[len("sha256="):], vectorIdem, string(vectorBody), string(vectorKey), `must be "sha256="`},
		{"short signature", "1767225600", "sha256=05d0", vectorIdem, string(vectorBody), string(vectorKey), `must be "sha256="`},
		{"wrong key", "1767225600", vectorSig, vectorIdem, string(vectorBody), "whsec-other", "does not match"},
		{"body changed", "1767225600", vectorSig, vectorIdem, `{"order_id":"U-2026-0002","status":"mottagen"}`, string(vectorKey), "does not match"},
		{"timestamp changed", "1767225601", vectorSig, vectorIdem, string(vectorBody), string(vectorKey), "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := provider.Verify([][]byte{[]byte(tt.key)}, tt.ts, tt.sig, tt.idem, []byte(tt.body), now, 5*time.Minute)
			checkVerify(t, err, tt.wantError)
		})
	}
	t.Run("stale", func(t *testing.T) {
		err := provider.Verify([][]byte{vectorKey}, "1767225600", vectorSig, vectorIdem, vectorBody, vectorTime.Add(6*time.Minute), 5*time.Minute)
		checkVerify(t, err, "6m0s off the receiver's clock")
	})
	t.Run("from the future", func(t *testing.T) {
		err := provider.Verify([][]byte{vectorKey}, "1767225600", vectorSig, vectorIdem, vectorBody, vectorTime.Add(-6*time.Minute), 5*time.Minute)
		checkVerify(t, err, "-6m0s off the receiver's clock")
	})
}

func checkVerify(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("Verify = %v, want nil", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("Verify = %v, want an error containing %q", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "97f2545c") {
		t.Errorf("Verify error %q reveals the expected signature", err)
	}
}

// During a rotation the secret holds the new key above the old one: both
// verify, the first signs.
func TestVerifyDuringRotation(t *testing.T) {
	keys := provider.Keys("whsec-new-0002\n" + string(vectorKey) + "\n\n")
	if len(keys) != 2 || string(keys[0]) != "whsec-new-0002" {
		t.Fatalf("Keys = %q, want the new key then the old one", keys)
	}
	now := vectorTime.Add(time.Second)
	if err := provider.Verify(keys, "1767225600", vectorSig, vectorIdem, vectorBody, now, time.Minute); err != nil {
		t.Errorf("signed with the old key during the rotation: %v", err)
	}
	ts, sig := provider.Sign(keys[0], vectorTime, vectorIdem, vectorBody)
	if err := provider.Verify(keys, ts, sig, vectorIdem, vectorBody, now, time.Minute); err != nil {
		t.Errorf("signed with the new key: %v", err)
	}
	if err := provider.Verify(keys[:1], "1767225600", vectorSig, vectorIdem, vectorBody, now, time.Minute); err == nil {
		t.Error("the old key still verifies once it is removed")
	}
}
