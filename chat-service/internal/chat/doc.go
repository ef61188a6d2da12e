// Package chat holds chat-service's domain: conversations, members,
// messages, reactions and the per-conversation change log, and the use cases
// both transports (REST and the gateway's Socket.IO link) call.
//
// Every change runs in one Store transaction that writes the domain rows,
// appends the next eventSeq to the conversation's change log and enqueues
// the matching chat.*.v1 event, so live deliveries, catch-up (Sync) and the
// database can never disagree. The package knows nothing of HTTP, SQL or
// AMQP; callers identify the acting user by the id taken from a verified
// internal token.
package chat
