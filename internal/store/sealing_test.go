package store_test

import (
	"bytes"
	"testing"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestBodiesSealed: with keys, a message body (which may carry a client's
// name and personnummer) is encrypted at rest, read back intact, and bound
// to its message.
func TestBodiesSealed(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			db := newTestDB(t, dialect)
			s := db.open(t)
			body := []byte(`<kund><personnummer>194001042383</personnummer><efternamn>Testsson</efternamn></kund>`)
			m := knutpunkt.Message{ID: "msg-sealed-1", Headers: map[string]string{knutpunkt.HeaderContentType: "application/xml"}, Body: body}
			if _, err := s.SaveInbound(t.Context(), store.Inbound("lifecare_orders", "test", m)); err != nil {
				t.Fatal(err)
			}
			var raw []byte
			var size int64
			if err := db.raw.QueryRow("SELECT b.body, m.size FROM messages m JOIN message_bodies b ON b.message_id = m.id WHERE m.id = 'msg-sealed-1'").Scan(&raw, &size); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte("Testsson")) || bytes.Contains(raw, []byte("194001042383")) {
				t.Errorf("the stored body is readable: %q", raw)
			}
			if size != int64(len(body)) {
				t.Errorf("size = %d, want the payload's %d", size, len(body))
			}
			got, err := s.Message(t.Context(), "msg-sealed-1")
			if err != nil || !bytes.Equal(got.Body, body) {
				t.Fatalf("Message = %q, %v; want the body back", got.Body, err)
			}
			// A sealed body is bound to its message: moved to another
			// message's row, it does not open.
			m2 := knutpunkt.Message{ID: "msg-sealed-2", Headers: map[string]string{knutpunkt.HeaderContentType: "application/xml"}, Body: []byte("<kund/>")}
			if _, err := s.SaveInbound(t.Context(), store.Inbound("lifecare_orders", "test", m2)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.raw.Exec("UPDATE message_bodies SET body = (SELECT body FROM message_bodies WHERE message_id = 'msg-sealed-1') WHERE message_id = 'msg-sealed-2'"); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Message(t.Context(), "msg-sealed-2"); err == nil {
				t.Errorf("a sealed body opened under another message id: %q", got.Body)
			}
		})
	}
}
