package events

import "time"

// TypeSessionRefreshed is a gateway's signal on ExchangeRealtime that a
// session was refreshed through it: every gateway then lets that session's
// open sockets run until the new session token's expiry instead of closing
// them at the old one's. It is ephemeral (no outbox): a gateway that misses
// it closes those sockets at the old expiry, and their clients reconnect
// with the refreshed cookie, as before.
const TypeSessionRefreshed = "realtime.session.refreshed"

// SessionRefreshedV1 is the payload of TypeSessionRefreshed: the session and
// the expiry of its new session token.
type SessionRefreshedV1 struct {
	UserID    string    `json:"userId"`
	SessionID string    `json:"sessionId"`
	ExpiresAt time.Time `json:"expiresAt"`
}
