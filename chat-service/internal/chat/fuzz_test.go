package chat

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/parleychat/parley/shared/input"
)

// FuzzConversationCursor feeds the conversation-list cursor decoder
// anything a client could put in ?cursor=: it must never panic, and what it
// accepts must be a time PostgreSQL stores and a canonical id, and encode
// back to the same cursor.
func FuzzConversationCursor(f *testing.F) {
	f.Add("")
	f.Add(encodeConversationCursor(ConversationCursor{LastActivity: now(), ID: "0192f2d4-4c9e-7b7a-9d4e-5f1a2b3c4d5e"}))
	f.Add("OTIyMzM3MjAzNjg1NDc3NTgwNywwMTkyZjJkNC00YzllLTdiN2EtOWQ0ZS01ZjFhMmIzYzRkNWU")
	f.Add("AA")
	f.Add("LTEsdXJuOnV1aWQ6MDE5MmYyZDQtNGM5ZS03YjdhLTlkNGUtNWYxYTJiM2M0ZDVl")
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := decodeConversationCursor(s)
		if !ok || s == "" {
			return
		}
		if us := c.LastActivity.UnixMicro(); us < 0 || us > maxCursorMicros {
			t.Fatalf("accepted %q with time %v out of range", s, c.LastActivity)
		}
		if id, ok := input.ParseID(c.ID); !ok || id != c.ID {
			t.Fatalf("accepted %q with a non-canonical id %q", s, c.ID)
		}
		again, ok := decodeConversationCursor(encodeConversationCursor(c))
		if !ok || !again.LastActivity.Equal(c.LastActivity) || again.ID != c.ID {
			t.Fatalf("cursor %q does not survive a round trip: %+v vs %+v", s, c, again)
		}
	})
}

// FuzzSyncRequest decodes a sync payload's conversations map as the link
// does and checks it: never a panic, and every refusal a validation error.
func FuzzSyncRequest(f *testing.F) {
	f.Add(`{"0192f2d4-4c9e-7b7a-9d4e-5f1a2b3c4d5e": 0}`)
	f.Add(`{"0192f2d4-4c9e-7b7a-9d4e-5f1a2b3c4d5e": -1, "x": 3}`)
	f.Add(`{"urn:uuid:0192f2d4-4c9e-7b7a-9d4e-5f1a2b3c4d5e": 9223372036854775807}`)
	f.Add(`{"\u0000": 1}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var m map[string]int64
		if json.Unmarshal([]byte(raw), &m) != nil {
			return
		}
		listed, err := checkSync(m)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid {
				t.Fatalf("checkSync(%s) = %v, want a validation error", raw, err)
			}
			return
		}
		for id, seq := range listed {
			if canon, ok := input.ParseID(id); !ok || canon != id || seq < 0 {
				t.Fatalf("checkSync(%s) kept %q: %d", raw, id, seq)
			}
		}
	})
}
