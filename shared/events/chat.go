package events

import "encoding/json"

// Event types produced by chat-service on ExchangeChat. Each carries a
// Delivery payload; gateways emit Payload to the rooms of Recipients under
// the Socket.IO event name given by SocketEvent.
const (
	TypeMessageCreated      = "chat.message.created"
	TypeMessageUpdated      = "chat.message.updated"
	TypeMessageDeleted      = "chat.message.deleted"
	TypeReactionChanged     = "chat.reaction.changed"
	TypeConversationCreated = "chat.conversation.created"
	TypeConversationUpdated = "chat.conversation.updated"
	TypeConversationRead    = "chat.conversation.read"
	TypeMembersChanged      = "chat.members.changed"
)

// Ephemeral signals on ExchangeRealtime (not persisted, no outbox).
const (
	// TypeTyping is published by chat-service (membership checked) for the
	// gateways to deliver.
	TypeTyping = "realtime.typing"
	// TypePresence is a presence change fanned out to a user's contacts.
	TypePresence = "realtime.presence"
	// TypeGatewayPresence is a gateway's report of its connected users
	// (heartbeat), consumed by chat-service to compute presence.
	TypeGatewayPresence = "realtime.gateway.presence"
)

// Delivery is the payload of every chat.* and realtime.typing/presence
// event: who must receive it, and what the Socket.IO clients get.
type Delivery struct {
	ConversationID string          `json:"conversationId,omitempty"`
	EventSeq       int64           `json:"eventSeq,omitempty"`
	Recipients     []string        `json:"recipients"`
	Payload        json.RawMessage `json:"payload"`
}

// SocketEvent maps an event type to the Socket.IO event clients receive;
// ok is false for types that are not delivered to clients.
func SocketEvent(eventType string) (name string, ok bool) {
	name, ok = socketEvents[eventType]
	return name, ok
}

var socketEvents = map[string]string{
	TypeMessageCreated:      "message:new",
	TypeMessageUpdated:      "message:updated",
	TypeMessageDeleted:      "message:deleted",
	TypeReactionChanged:     "message:updated",
	TypeConversationCreated: "conversation:new",
	TypeConversationUpdated: "conversation:updated",
	TypeMembersChanged:      "conversation:updated",
	TypeConversationRead:    "conversation:read",
	TypeTyping:              "typing",
	TypePresence:            "presence",
}

// GatewayPresenceV1 is a gateway instance's heartbeat: the users with at
// least one socket on it right now. A gateway that stops sending is
// presumed dead after its TTL, and its users go offline.
type GatewayPresenceV1 struct {
	GatewayID  string   `json:"gatewayId"`
	Users      []string `json:"users"`
	TTLSeconds int      `json:"ttlSeconds"`
}
