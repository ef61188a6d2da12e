package realtime

import (
	"encoding/json"
	"net/http"

	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/problem"
)

// Problems the Socket.IO side answers itself; session problems come from
// session.Problem, shared with REST.
var (
	errOriginRefused = problem.New(http.StatusForbidden, "origin_refused",
		"this origin may not open sockets; use the web client's own origin")
	errTooManySockets = problem.New(http.StatusTooManyRequests, "too_many_sockets",
		"this account has too many open sockets on this server; close another tab or device and connect again")
)

// errorAck is the ack a client gets when the gateway, not chat-service,
// answers: the link contract's failed ack carrying the problem, as REST
// would have written it. The command's traceId is added by onCommand.
func errorAck(status int, code, detail string) []any {
	return failedAck(link.Failed(problem.New(status, code, detail)))
}

// failedAck encodes a link.Ack as Socket.IO ack arguments: plain JSON values,
// as chat-service's acks arrive, so the gateway treats both alike.
func failedAck(a link.Ack) []any {
	return []any{plain(a)}
}

// problemData is the public form of p with traceID, as the plain JSON object
// a Socket.IO connect_error carries in data.
func problemData(p *problem.Problem, traceID string) map[string]any {
	return plain(p.Public(traceID))
}

// plain round-trips v through JSON into map[string]any: the Socket.IO
// encoder then sees only JSON values, never a struct it might inspect for
// binary attachments. v is one of this package's own types, which always
// encode.
func plain(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// withTraceID sets traceID on a failed ack whose problem has none (the
// gateway's own acks, and chat-service's should it omit it), so a socket
// error is found in the logs by the same id as a REST one.
func withTraceID(res []any, traceID string) []any {
	if len(res) == 0 {
		return res
	}
	m, ok := res[0].(map[string]any)
	if !ok {
		raw, isJSON := res[0].(json.RawMessage)
		if !isJSON || json.Unmarshal(raw, &m) != nil || m == nil {
			return res
		}
		res = append([]any{m}, res[1:]...)
	}
	e, ok := m["error"].(map[string]any)
	if !ok {
		return res
	}
	if id, _ := e["traceId"].(string); id == "" {
		e["traceId"] = traceID
	}
	return res
}
