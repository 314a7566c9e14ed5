package nuki_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/knutpunkt/knutpunkt/adapters/nuki"
	"github.com/knutpunkt/knutpunkt/adapters/nuki/nukisim"
)

// specURL is where the tests place the Swagger file as a schema resource,
// so that its $ref: #/definitions/X resolve.
const specURL = "file:///nuki/nuki_swagger.json"

// specSchemas compiles the contract's definitions (Swagger 2.0 schemas are
// close to draft-04) from ../shared/ext/nuki/nuki_swagger.json.
func specSchemas(t *testing.T) func(def string) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(shared(t, "ext/nuki/nuki_swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	// The contract lists "0 .. Success" among SmartlockLog's states but
	// declares minimum 1; every successful event would break it. The
	// description is what the vendor does, so the test reads minimum 0.
	state := doc.(map[string]any)["definitions"].(map[string]any)["SmartlockLog"].(map[string]any)["properties"].(map[string]any)["state"].(map[string]any)
	if state["minimum"] != json.Number("1") {
		t.Fatalf("SmartlockLog.state minimum is %v: the contract changed, review the deviation above", state["minimum"])
	}
	state["minimum"] = json.Number("0")
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(specURL, doc); err != nil {
		t.Fatal(err)
	}
	return func(def string) *jsonschema.Schema {
		t.Helper()
		s, err := c.Compile(specURL + "#/definitions/" + def)
		if err != nil {
			t.Fatalf("compile %s: %v", def, err)
		}
		return s
	}
}

// TestContract: what the sink sends and what the simulator answers meet
// the Swagger definitions.
func TestContract(t *testing.T) {
	schema := specSchemas(t)
	sim := startSim(t, nukisim.Options{Now: newClock(monday0800).Now})
	sink := newSink(t, sinkYAML(sim, ""), nil)
	ctx := t.Context()
	grant := nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: anna, Weekdays: ptr(124), DailyFromMin: ptr(420),
		DailyUntilMin: ptr(540), ValidFrom: ptr(monday0800), ValidUntil: ptr(monday0800.AddDate(0, 6, 0)), RemoteAllowed: true}
	if err := sink.Send(ctx, change(grant)); err != nil {
		t.Fatal(err)
	}
	grant.Seq, grant.DailyUntilMin = 2, ptr(600)
	if err := sink.Send(ctx, change(grant)); err != nil {
		t.Fatal(err)
	}
	sim.Unlock(1001, anna, monday0800)
	sim.Door(1001, true, monday0800.Add(time.Minute))

	validate := func(what, def string, body []byte, list bool) {
		t.Helper()
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, body)
		}
		items := []any{inst}
		if list {
			items = inst.([]any)
			if len(items) == 0 {
				t.Fatalf("%s: empty list", what)
			}
		}
		for i, it := range items {
			if err := schema(def).Validate(it); err != nil {
				t.Errorf("%s[%d] does not meet %s: %v", what, i, def, err)
			}
		}
	}
	// The schemas bite: an auth without its required fields fails.
	if err := schema("SmartlockAuth").Validate(map[string]any{"name": "x"}); err == nil {
		t.Fatal("SmartlockAuth accepted an object without id, enabled, …: the definitions are not applied")
	}
	validate("create request", "SmartlockAuthCreate", sim.LastBody(routeCreate), false)
	validate("update request", "SmartlockAuthUpdate", sim.LastBody(routeUpdate), false)
	validate("account user request", "AccountUserCreate", sim.LastBody("PUT /account/user"), false)
	for _, a := range []struct{ path, def string }{
		{"/smartlock", "Smartlock"},
		{"/smartlock/1001/auth", "SmartlockAuth"},
		{"/smartlock/log?limit=50", "SmartlockLog"},
		{"/smartlock/1001/log?limit=50", "SmartlockLog"},
		{"/account/user", "AccountUser"},
	} {
		validate("GET "+a.path, a.def, get(t, sim, a.path), true)
	}
}

func get(t *testing.T, sim *nukisim.Server, path string) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, sim.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return b
}
