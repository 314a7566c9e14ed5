package http_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
)

// TestIngest checks the answers of the http source and its header mapping.
func TestIngest(t *testing.T) {
	in := adapterstest.NewIngress(t, "SE2321000016-ABCD")
	cfg, err := adapters.DecodeConfig(kphttp.SourceDef.Config, []byte("path: visits\nmax_body_size: 16B\ncontent_types: [application/json]\n"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := kphttp.SourceDef.Open(cfg, adapters.Env{Ingress: in})
	if err != nil {
		t.Fatal(err)
	}
	var got knutpunkt.Message
	deliver := func(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
		switch string(m.Body) {
		case `"bad"`:
			return adapters.Receipt{}, adapters.Permanent(errors.New("visit has no client"))
		case `"busy"`:
			return adapters.Receipt{}, errors.New("store busy")
		case `"again"`: // the hub has it under the first message's id
			return adapters.Receipt{ID: "first-id", Duplicate: true}, nil
		}
		got = m
		return adapters.Receipt{ID: m.ID}, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- src.Receive(ctx, deliver) }()
	defer func() { cancel(); <-done }()

	tests := []struct {
		name, method, contentType, body string
		headers                         map[string]string
		wantStatus                      int
		wantBody                        string // substring
	}{
		{"accepted", "POST", "application/json; charset=utf-8", `{"a":1}`, map[string]string{"X-Source-System": "tes", "Idempotency-Key": "v-1"}, 202, `"id":`},
		{"too large", "POST", "application/json", `{"aaaaaaaaaaaaaaaa":1}`, nil, 413, "max_body_size of 16B"},
		{"wrong type", "POST", "text/plain", `x`, nil, 415, "not accepted"},
		{"wrong method", "GET", "", ``, nil, 405, "use POST"},
		{"refused", "POST", "application/json", `"bad"`, nil, 422, "visit has no client"},
		{"transient", "POST", "application/json", `"busy"`, nil, 503, "retry later"},
		{"duplicate", "POST", "application/json", `"again"`, nil, 200, `{"duplicate":true,"id":"first-id"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, in.URL("visits"), strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("%s = %d %s, want %d containing %q", tt.name, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}

	if got.ID == "" {
		t.Fatal("no message accepted")
	}
	want := map[string]string{
		knutpunkt.HeaderContentType:  "application/json; charset=utf-8",
		knutpunkt.HeaderSourceSystem: "tes",
		knutpunkt.HeaderExternalID:   "v-1",
		knutpunkt.HeaderCaller:       "SE2321000016-ABCD",
	}
	if diff := cmp.Diff(want, got.Headers); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
}

// TestSinkStatus checks how the sink classifies vendor answers.
func TestSinkStatus(t *testing.T) {
	tests := []struct {
		status        int
		wantErr, perm bool
	}{
		{200, false, false}, {201, false, false}, {204, false, false},
		{400, true, true}, {401, true, true}, {404, true, true}, {409, true, true}, {422, true, true},
		{408, true, false}, {429, true, false}, {500, true, false}, {502, true, false}, {503, true, false},
	}
	status := make(chan int, 1)
	srv := newStatusServer(t, status)
	cfg, err := adapters.DecodeConfig(kphttp.SinkDef.Config, []byte("url: "+srv+"\nmethod: PUT\n"))
	if err != nil {
		t.Fatal(err)
	}
	sink, err := kphttp.SinkDef.Open(cfg, adapters.Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		status <- tt.status
		err := sink.Send(t.Context(), knutpunkt.Message{ID: "1", Body: []byte("x")})
		if (err != nil) != tt.wantErr || adapters.IsPermanent(err) != tt.perm {
			t.Errorf("status %d: Send = %v (permanent %v), want error %v permanent %v", tt.status, err, adapters.IsPermanent(err), tt.wantErr, tt.perm)
		}
	}
}

// newStatusServer answers each PUT with the next status from status.
func newStatusServer(t *testing.T, status <-chan int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.Error(w, "want PUT", http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(<-status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
