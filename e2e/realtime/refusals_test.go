package realtime

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/parleychat/parley/e2e/harness"
)

// wantProblem says what a refusal must look like: status and code, and a
// field error on field when field is set.
type wantProblem struct {
	status int
	code   string
	field  string
}

// TestRefusals: non-members, forged and malformed ids, oversized and
// invalid bodies get the documented 4xx problem over REST and the same
// status and code in the Socket.IO ack; a sync cannot probe a foreign
// conversation; a non-member's typing reaches nobody; flooding gets 429
// rate_limited (default flood control: 10/s, bursts of 20); a Socket.IO
// handshake without the session cookie, with a forged one or from a
// foreign Origin is refused.
func TestRefusals(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.Options{})
	gw := s.Gateway()
	a := harness.NewClient(t, gw).SignUp()
	b := harness.NewClient(t, gw).SignUp()
	c := harness.NewClient(t, gw).SignUp()
	sa, sb, sc := a.Connect(), b.Connect(), c.Connect()
	id := a.CreateGroup("members only", b.UserID).ID
	m := send(t, sa, id, "a message by A")
	forged := uuid.Must(uuid.NewV7()).String()
	notFound := wantProblem{http.StatusNotFound, "not_found", ""}
	conv := "/api/v1/conversations/" + id

	t.Run("REST", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			who    *harness.Client
			method string
			path   string
			body   any
			want   wantProblem
		}{
			{"non-member reads the conversation", c, http.MethodGet, conv, nil, notFound},
			{"non-member lists messages", c, http.MethodGet, conv + "/messages", nil, notFound},
			{"non-member sends", c, http.MethodPost, conv + "/messages", map[string]any{"clientMsgId": "c1", "body": "let me in"}, notFound},
			{"non-member reacts", c, http.MethodPut, reactionPath(id, m.ID, "👍"), nil, notFound},
			{"non-member renames", c, http.MethodPatch, conv, map[string]any{"title": "mine now"}, notFound},
			{"non-member removes a member", c, http.MethodDelete, conv + "/members/" + b.UserID, nil, notFound},
			{"non-member marks read", c, http.MethodPost, conv + "/read", map[string]any{"seq": 1}, notFound},
			{"forged conversation id", a, http.MethodGet, "/api/v1/conversations/" + forged, nil, notFound},
			{"send to a forged conversation id", a, http.MethodPost, "/api/v1/conversations/" + forged + "/messages", map[string]any{"clientMsgId": "f1", "body": "x"}, notFound},
			{"malformed conversation id", a, http.MethodGet, "/api/v1/conversations/not-a-uuid", nil, notFound},
			{"forged message id", a, http.MethodPatch, conv + "/messages/" + forged, map[string]any{"body": "x"}, notFound},
			{"member edits another's message", b, http.MethodPatch, conv + "/messages/" + m.ID, map[string]any{"body": "x"}, wantProblem{http.StatusForbidden, "not_author", ""}},
			{"plain member renames the group", b, http.MethodPatch, conv, map[string]any{"title": "x"}, wantProblem{http.StatusForbidden, "forbidden", ""}},
			{"body over 4000 characters", a, http.MethodPost, conv + "/messages", map[string]any{"clientMsgId": "big", "body": strings.Repeat("é", 4001)}, wantProblem{http.StatusBadRequest, "validation_failed", "body"}},
			{"request over chat-service's 32 KiB", a, http.MethodPost, conv + "/messages", map[string]any{"clientMsgId": "huge", "body": strings.Repeat("x", 40<<10)}, wantProblem{http.StatusRequestEntityTooLarge, "body_too_large", ""}},
			{"request over the gateway's 1 MiB", a, http.MethodPost, conv + "/messages", map[string]any{"clientMsgId": "huger", "body": strings.Repeat("x", 2<<20)}, wantProblem{http.StatusRequestEntityTooLarge, "body_too_large", ""}},
			{"sender forged in the body", a, http.MethodPost, conv + "/messages", map[string]any{"clientMsgId": "s", "body": "x", "senderId": b.UserID}, wantProblem{http.StatusBadRequest, "validation_failed", ""}},
			{"no session cookie", harness.NewClient(t, gw), http.MethodGet, conv, nil, wantProblem{http.StatusUnauthorized, "unauthorized", ""}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.who.Do(tc.method, tc.path, tc.body)
				p := r.Problem(t)
				if r.Status != tc.want.status || p.Status != tc.want.status || p.Code != tc.want.code {
					t.Fatalf("status %d, problem %d %q; want %d %q; body %s", r.Status, p.Status, p.Code, tc.want.status, tc.want.code, r.Body)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
					t.Errorf("Content-Type = %q, want application/problem+json", ct)
				}
				if tc.want.field != "" {
					found := false
					for _, e := range p.Errors {
						found = found || e.Field == tc.want.field
					}
					if !found {
						t.Errorf("field errors %+v, want one for %q", p.Errors, tc.want.field)
					}
				}
			})
		}
	})

	t.Run("socket", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			sock  *harness.Socket
			event string
			data  map[string]any
			want  wantProblem
		}{
			{"non-member sends", sc, "message:send", map[string]any{"conversationId": id, "clientMsgId": "c1", "body": "let me in"}, notFound},
			{"non-member edits", sc, "message:edit", map[string]any{"conversationId": id, "messageId": m.ID, "body": "x"}, notFound},
			{"non-member deletes", sc, "message:delete", map[string]any{"conversationId": id, "messageId": m.ID}, notFound},
			{"non-member marks read", sc, "conversation:read", map[string]any{"conversationId": id, "seq": 1}, notFound},
			{"forged conversation id", sa, "message:send", map[string]any{"conversationId": forged, "clientMsgId": "f1", "body": "x"}, notFound},
			{"malformed conversation id", sa, "message:send", map[string]any{"conversationId": "../" + id, "clientMsgId": "f2", "body": "x"}, notFound},
			{"forged message id", sa, "message:edit", map[string]any{"conversationId": id, "messageId": forged, "body": "x"}, notFound},
			{"member edits another's message", sb, "message:edit", map[string]any{"conversationId": id, "messageId": m.ID, "body": "x"}, wantProblem{http.StatusForbidden, "not_author", ""}},
			{"body over 4000 characters", sa, "message:send", map[string]any{"conversationId": id, "clientMsgId": "big", "body": strings.Repeat("é", 4001)}, wantProblem{http.StatusBadRequest, "validation_failed", "body"}},
			{"no clientMsgId", sa, "message:send", map[string]any{"conversationId": id, "body": "x"}, wantProblem{http.StatusBadRequest, "validation_failed", "clientMsgId"}},
			{"sender forged in the payload", sa, "message:send", map[string]any{"conversationId": id, "clientMsgId": "s", "body": "x", "senderId": b.UserID}, wantProblem{http.StatusBadRequest, "validation_failed", ""}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ack := tc.sock.Emit(tc.event, tc.data)
				if ack.Err != nil || ack.OK || ack.Error == nil {
					t.Fatalf("ack = %s, want {ok:false, error:{status:%d, code:%q}}", ack, tc.want.status, tc.want.code)
				}
				if ack.Error.Status != tc.want.status || ack.Error.Code != tc.want.code {
					t.Fatalf("ack error = %d %q, want %d %q (%s)", ack.Error.Status, ack.Error.Code, tc.want.status, tc.want.code, ack)
				}
				if tc.want.field != "" {
					found := false
					for _, e := range ack.Error.Errors {
						found = found || e.Field == tc.want.field
					}
					if !found {
						t.Errorf("field errors %+v, want one for %q", ack.Error.Errors, tc.want.field)
					}
				}
			})
		}

		t.Run("non-member sync learns nothing", func(t *testing.T) {
			ack := syncLog(t, sc, id, 0)
			if len(ack.Events) != 0 || len(ack.Gaps) != 0 {
				t.Errorf("sync of a foreign conversation = %s, want no events and no gaps", ack)
			}
		})

		t.Run("packet over the gateway's 64 KiB closes the socket", func(t *testing.T) {
			sock := a.Connect()
			ack := sock.Emit("message:send", map[string]any{"conversationId": id, "clientMsgId": "jumbo", "body": strings.Repeat("x", 70<<10)})
			if ack.Err == nil {
				t.Fatalf("ack = %s, want none: the gateway closes a connection sending more than 64 KiB", ack)
			}
			select {
			case <-sock.Gone():
			case <-time.After(10 * time.Second):
				t.Fatal("socket still connected 10s after an oversized packet")
			}
		})
	})

	// A non-member's typing goes nowhere; wait for a member's signal that
	// was sent after it, so the stray would have arrived first.
	sc.Send("typing", map[string]any{"conversationId": id, "typing": true})
	sb.Send("typing", map[string]any{"conversationId": id, "typing": true})
	sa.WaitUntil(10*time.Second, "A receives B's typing", func([]harness.SocketEvent) bool { return len(sa.Named("typing")) >= 1 })
	time.Sleep(500 * time.Millisecond)
	for _, e := range sa.Named("typing") {
		var p struct {
			UserID string `json:"userId"`
		}
		e.Decode(t, &p)
		if p.UserID != b.UserID {
			t.Errorf("A received typing %s, want only B's", e.Data)
		}
	}
	for _, e := range append(sa.Events(), sb.Events()...) {
		if strings.Contains(string(e.Data), "let me in") {
			t.Errorf("a member received the non-member's message: %s %s", e.Name, e.Data)
		}
	}

	t.Run("flooding over REST", func(t *testing.T) { floodREST(t, gw, a.UserID) })
	t.Run("flooding over the socket", func(t *testing.T) { floodSocket(t, gw, a.UserID) })
	t.Run("handshake", func(t *testing.T) { checkHandshakes(t, gw, a) })
}

// checkHandshakes: the Socket.IO endpoint refuses a handshake without the
// session cookie or from a foreign Origin at the Engine.IO level, over
// long-polling and WebSocket alike, and a forged cookie at the namespace
// (connect_error "unauthorized"); the same client with the right cookie
// and Origin connects. (The official client's view of these refusals is in
// TestOfficialJavaScriptClient.)
func checkHandshakes(t *testing.T, gw string, a *harness.Client) {
	cookie := harness.SessionCookie + "=" + a.Session()
	forged := harness.SessionCookie + "=x.y.z"
	cases := []struct {
		name, cookie, origin string
		want                 int // Engine.IO answer: 403, or 200/101 when it is up to the namespace
		wsWant               int // the WebSocket upgrade's answer when it differs
	}{
		// Without a cookie the Engine.IO server refuses a direct WebSocket
		// upgrade with 400 (gateway README: "403/400"); the Origin check
		// is the gateway's own, 403 for both.
		{"no cookie", "", gw, http.StatusForbidden, http.StatusBadRequest},
		{"foreign origin", cookie, "https://evil.example", http.StatusForbidden, 0},
		{"forged cookie", forged, gw, http.StatusOK, 0},
		{"own origin with the cookie (control)", cookie, gw, http.StatusOK, 0},
		{"no origin with the cookie (non-browser client)", cookie, "", http.StatusOK, 0},
	}
	header := func(cookie, origin string) http.Header {
		h := http.Header{}
		if cookie != "" {
			h.Set("Cookie", cookie)
		}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return h
	}
	for _, tc := range cases {
		t.Run("polling/"+tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, gw+"/socket.io/?EIO=4&transport=polling", nil)
			req.Header = header(tc.cookie, tc.origin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
		t.Run("websocket/"+tc.name, func(t *testing.T) {
			want := tc.want
			if want == http.StatusOK {
				want = http.StatusSwitchingProtocols
			}
			if tc.wsWant != 0 {
				want = tc.wsWant
			}
			conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(gw, "http")+"/socket.io/?EIO=4&transport=websocket", header(tc.cookie, tc.origin))
			if conn != nil {
				conn.Close()
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			if resp.StatusCode != want {
				t.Errorf("status %d, want %d (%v)", resp.StatusCode, want, err)
			}
		})
	}

	// Past the Engine.IO handshake, the namespace judges the token.
	sock, err := harness.DialSocket(t, gw, harness.SocketOptions{Header: header(forged, gw)})
	var ce *harness.ConnectError
	if !errors.As(err, &ce) || ce.Code != "unauthorized" {
		t.Errorf("socket with a forged cookie: %v (socket %v), want connect_error code unauthorized", err, sock)
	}
	ok, err := harness.DialSocket(t, gw, harness.SocketOptions{Header: header(cookie, gw)})
	if err != nil {
		t.Fatalf("socket with the cookie and own origin refused: %v", err)
	}
	ok.MustEmit("sync", map[string]any{"conversations": map[string]int64{}})
}
