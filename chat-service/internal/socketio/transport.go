package socketio

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/parleychat/parley/shared/problem"
)

// requireToken refuses every Engine.IO request (polling handshake and
// polls, WebSocket upgrade) that does not carry a valid internal token for
// chat-service as "Authorization: Bearer", before the Engine.IO server sees
// it: without a credential no session is ever created. The gateway sends
// the same token again in the Socket.IO CONNECT auth, which authenticate
// checks too.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			raw = ""
		}
		if _, err := s.verify.Verify(strings.TrimSpace(raw)); err != nil {
			s.log.Warn().Str("error.message", err.Error()).Str("client.address", r.RemoteAddr).
				Msg("socket.io transport refused: no valid bearer token")
			writeProblem(w, problem.ErrUnauthorized.Public(""))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeProblem writes p as problem+json on a plain net/http response.
func writeProblem(w http.ResponseWriter, p *problem.Problem) {
	w.Header().Set("Content-Type", problem.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
