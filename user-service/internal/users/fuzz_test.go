package users

import (
	"encoding/base64"
	"testing"
)

// FuzzCursor feeds arbitrary cursors to the decoder that turns client text
// into SQL arguments: it must never panic, and a cursor it accepts must
// hold only what the query may receive (a canonical user id, storable
// text) and encode back to a cursor that decodes the same.
func FuzzCursor(f *testing.F) {
	enc := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	const id = "01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01"
	f.Add(encodeCursor("al", Position{Key: "alice", UserID: id}), "al")
	f.Add(enc(`{"q":"al","k":"\u0000","i":"`+id+`"}`), "al")
	f.Add(enc(`{"q":"al","k":"alice","i":"urn:uuid:`+id+`"}`), "al")
	f.Add(enc(`{"q":"al","k":"alice","i":"01970F3A-6A2B-7C3D-8E4F-5A6B7C8D9E01"}`), "al")
	f.Add(enc(`{"q":"al","k":5,"i":"`+id+`"}`), "al")
	f.Add(enc(`{"q":"al","k":"\ud800","i":"`+id+`"}`), "al")
	f.Add(enc(`null`), "")
	f.Add("%%%", "al")
	f.Fuzz(func(t *testing.T, text, prefix string) {
		pos, err := decodeCursor(text, prefix)
		if err != nil {
			return
		}
		if !validUserID(pos.UserID) || !storableText(pos.Key) {
			t.Fatalf("accepted cursor %q as %+v: not safe to query with", text, pos)
		}
		again, err := decodeCursor(encodeCursor(prefix, pos), prefix)
		if err != nil || again != pos {
			t.Errorf("re-encoded cursor decodes to %+v (%v), want %+v", again, err, pos)
		}
	})
}
