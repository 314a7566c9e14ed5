package provider_test

import (
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/provider"
)

// The README's test vector, computed independently with
//
//	printf '1767225600.{"order_id":"U-2026-0001","status":"mottagen"}' |
//	  openssl dgst -sha256 -hmac 'whsec-exempel-0001' -hex
var (
	vectorKey  = []byte("whsec-exempel-0001")
	vectorTime = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z
	vectorBody = []byte(`{"order_id":"U-2026-0001","status":"mottagen"}`)
	vectorSig  = "sha256=05d0047f4ccc45ba353a3fc87f3ee6ba7a61cb423e715f8b74f0d5bfb4505b4b"
)

func TestSign(t *testing.T) {
	ts, sig := provider.Sign(vectorKey, vectorTime, vectorBody)
	if ts != "1767225600" || sig != vectorSig {
		t.Errorf("Sign(test vector) = %q, %q, want %q, %q", ts, sig, "1767225600", vectorSig)
	}
}

func TestVerify(t *testing.T) {
	now := vectorTime.Add(90 * time.Second)
	tests := []struct {
		name      string
		ts, sig   string
		body      string
		key       string
		wantError string // "" means valid
	}{
		{"good", "1767225600", vectorSig, string(vectorBody), string(vectorKey), ""},
		{"upper-case hex", "1767225600", "sha256=05D0047F4CCC45BA353A3FC87F3EE6BA7A61CB423E715F8B74F0D5BFB4505B4B", string(vectorBody), string(vectorKey), ""},
		{"missing signature", "1767225600", "", string(vectorBody), string(vectorKey), "missing X-Knutpunkt-Signature"},
		{"missing timestamp", "", vectorSig, string(vectorBody), string(vectorKey), "missing X-Knutpunkt-Timestamp"},
		{"timestamp not a number", "2026-01-01T00:00:00Z", vectorSig, string(vectorBody), string(vectorKey), "not Unix seconds"},
		{"no algorithm prefix", "1767225600", vectorSig[len("sha256="):], string(vectorBody), string(vectorKey), `must be "sha256="`},
		{"short signature", "1767225600", "sha256=05d0", string(vectorBody), string(vectorKey), `must be "sha256="`},
		{"wrong key", "1767225600", vectorSig, string(vectorBody), "whsec-other", "does not match"},
		{"body changed", "1767225600", vectorSig, `{"order_id":"U-2026-0002","status":"mottagen"}`, string(vectorKey), "does not match"},
		{"timestamp changed", "1767225601", vectorSig, string(vectorBody), string(vectorKey), "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := provider.Verify([]byte(tt.key), tt.ts, tt.sig, []byte(tt.body), now, 5*time.Minute)
			checkVerify(t, err, tt.wantError)
		})
	}
	t.Run("stale", func(t *testing.T) {
		err := provider.Verify(vectorKey, "1767225600", vectorSig, vectorBody, vectorTime.Add(6*time.Minute), 5*time.Minute)
		checkVerify(t, err, "6m0s off the receiver's clock")
	})
	t.Run("from the future", func(t *testing.T) {
		err := provider.Verify(vectorKey, "1767225600", vectorSig, vectorBody, vectorTime.Add(-6*time.Minute), 5*time.Minute)
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
	if err != nil && strings.Contains(err.Error(), "05d0047f") {
		t.Errorf("Verify error %q reveals the expected signature", err)
	}
}
