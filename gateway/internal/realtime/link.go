package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/gateway/internal/chatlink"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/token"
)

// Link carries the commands of client sockets to chat-service over
// chatlink: one connection per chat-service instance, each authenticated
// with an internal token (sub "gateway", aud chat-service) minted afresh
// for every connection attempt.
type Link struct {
	pool *chatlink.Pool
	log  zerolog.Logger
}

// NewLink returns a link to the chat-service instances at urls; call Run.
func NewLink(urls []string, minter *session.Minter, log zerolog.Logger) (*Link, error) {
	pool, err := chatlink.New(chatlink.Options{
		URLs:  urls,
		Token: func() (string, error) { return minter.MintSelf(token.AudienceChat) },
		Log:   log,
	})
	if err != nil {
		return nil, err
	}
	return &Link{pool: pool, log: log}, nil
}

// Run keeps the links connected until ctx ends.
func (l *Link) Run(ctx context.Context) { l.pool.Run(ctx) }

// Check reports whether commands can reach chat-service, for /readyz.
func (l *Link) Check(ctx context.Context) error { return l.pool.Check(ctx) }

// Connects returns how many link connections were established (the first
// and every reconnect).
func (l *Link) Connects() int64 { return l.pool.Connects() }

// Up returns how many chat-service links are connected.
func (l *Link) Up() int { return l.pool.Up() }

// Send implements Commander. The payload's token, traceparent and data
// travel as a link.Envelope on the link that serves userID. When no link
// is up, or the link drops with the command in flight, the reply is at
// once a 503 link_unavailable ack; when chat-service does not answer within
// timeout it is a 504 gateway_timeout ack. reply runs at most once.
func (l *Link) Send(userID, event string, payload map[string]any, timeout time.Duration, reply func([]any)) {
	arg, err := envelope(payload)
	if err != nil {
		// The client's data came from JSON and marshals back; this is
		// a defect, answered like any internal failure.
		l.log.Error().Err(err).Str("socketio.event", event).Msg("encode link envelope")
		if reply != nil {
			reply(errorAck(http.StatusInternalServerError, "internal", "an internal error occurred; retry"))
		}
		return
	}
	if reply == nil {
		l.pool.Send(userID, event, arg, timeout, nil)
		return
	}
	l.pool.Send(userID, event, arg, timeout, func(args json.RawMessage, err error) {
		reply(ackArgs(args, err))
	})
}

// envelope encodes a command's payload as the link contract's envelope,
// field by field in link.Envelope's order. The data is encoded once:
// marshalling a link.Envelope would scan the encoded data again to
// compact its json.RawMessage.
func envelope(payload map[string]any) (json.RawMessage, error) {
	tok, _ := payload["token"].(string)
	tp, _ := payload["traceparent"].(string)
	data, err := json.Marshal(payload["data"])
	if err != nil {
		return nil, err
	}
	qt, _ := json.Marshal(tok) // strings always encode
	qp, _ := json.Marshal(tp)
	out := make([]byte, 0, len(qt)+len(qp)+len(data)+len(`{"token":,"traceparent":,"data":}`))
	out = append(append(append(out, `{"token":`...), qt...), `,"traceparent":`...)
	out = append(append(append(out, qp...), `,"data":`...), data...)
	return append(out, '}'), nil
}

// ackArgs turns chat-service's answer into the arguments of the client's
// ack: the ack packet's arguments as they came, or the gateway's own error
// ack.
func ackArgs(args json.RawMessage, err error) []any {
	switch {
	case errors.Is(err, chatlink.ErrTimeout):
		return errorAck(http.StatusGatewayTimeout, "gateway_timeout", "chat did not answer in time")
	case err != nil:
		return errorAck(http.StatusServiceUnavailable, "link_unavailable", "chat is unavailable; retry shortly")
	}
	// Each argument stays the JSON chat-service wrote: the Socket.IO
	// encoder writes a json.RawMessage as it is, where decoding it into
	// maps and encoding those again cost a map per object and a sort of
	// its keys, for every ack.
	var raw []json.RawMessage
	if json.Unmarshal(args, &raw) != nil || len(raw) == 0 {
		// An ack chat-service wrote that is not a JSON array of
		// arguments breaks the link contract: a server-side failure.
		return errorAck(http.StatusBadGateway, "bad_gateway", "chat answered malformed data")
	}
	res := make([]any, len(raw))
	for i, r := range raw {
		res[i] = r
	}
	return res
}
