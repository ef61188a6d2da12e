package chaos

import "strings"

// GracefulRefusal reports whether a client-visible failure is one a
// graceful stop may cause: a socket of the stopping gateway closed so the
// client reconnects elsewhere (a command sent as it closed gets no ack and
// is sent again), a handshake or request refused because the instance no
// longer listens, or a refusal the client retries (429, 503). A send
// stored whose ack was lost (ack_lost), a request cut mid-way or any other
// status is a failed in-flight command or request.
func GracefulRefusal(what string) bool {
	switch what {
	case "disconnect:transport close", "connect:refused", "rest:refused", "rest:503",
		// Sent as the socket closed, never processed: the resend stored
		// it (an in-flight send that lost its ack counts as ack_lost).
		// A sync has no effect and runs again after the reconnect.
		"message:send:no_ack", "sync:no_ack":
		return true
	}
	for _, cmd := range []string{"message:send", "sync"} {
		if strings.HasPrefix(what, cmd+":503 ") || strings.HasPrefix(what, cmd+":429 ") {
			return true
		}
	}
	return false
}
