package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/token"
)

// TestCloseWritesAcksFirst: chat-service stops while its link still has
// acks to write (a gateway that has not read 13 MB of sync answers yet);
// every command it ran must have its ack on the wire before the link
// closes. The library's Close discards what is buffered: the last send
// would be stored while the gateway hears only the link closing.
func TestCloseWritesAcksFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice, bob := f.user(t), f.user(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conv, _, err := f.svc.CreateConversation(ctx, alice, chat.NewConversation{Kind: chat.KindDirect, Members: []string{bob}})
	if err != nil {
		t.Fatal(err)
	}
	// Written past the link's flood control, which bounds one user's sends.
	seedCfg := chat.DefaultConfig
	seedCfg.MessageRate, seedCfg.MessageBurst = 1e6, 1e6
	seed := chat.NewService(f.store, nil, seedCfg)
	body := strings.Repeat("x", chat.MaxBodyChars)
	for i := range 300 {
		if _, _, err := seed.Send(ctx, alice, chat.NewMessage{ConversationID: conv.ID, ClientMsgID: fmt.Sprint("m", i), Body: body}); err != nil {
			t.Fatal(err)
		}
	}

	gw := f.tokenFor(t, "gateway-1", token.AudienceChat)
	url := "ws" + strings.TrimPrefix(f.url, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + gw}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(4 << 20)
	write := func(frame string) {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	if _, b, err := ws.Read(ctx); err != nil || !strings.HasPrefix(string(b), "0{") {
		t.Fatalf("open packet %q, %v", b, err)
	}
	write(`40{"token":"` + gw + `"}`)
	_, b, err := ws.Read(ctx)
	var ok struct{ Sid string }
	if err != nil || !strings.HasPrefix(string(b), "40{") || json.Unmarshal(b[2:], &ok) != nil {
		t.Fatalf("CONNECT answer %q, %v", b, err)
	}
	// The server takes packets once its connection handler has run.
	for !f.connected.connected(ok.Sid) {
		if ctx.Err() != nil {
			t.Fatal("the link was never taken")
		}
		time.Sleep(5 * time.Millisecond)
	}

	command := func(id int, name string, data any) {
		t.Helper()
		env, _ := json.Marshal([]any{name, map[string]any{"token": f.tokenFor(t, alice, token.AudienceChat),
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "data": data}})
		write(fmt.Sprintf("42%d%s", id, env))
	}
	for i := range 10 {
		command(i, "sync", map[string]any{"conversations": map[string]int64{conv.ID: 0}})
	}
	command(10, "message:send", map[string]any{"conversationId": conv.ID, "clientMsgId": "last", "body": "the end"})
	// Every command has run once the last send is stored (one user's
	// commands run in order); nothing of the answers has been read.
	for {
		res, err := f.svc.Sync(ctx, alice, map[string]int64{conv.ID: 300})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the last send was never stored")
		}
		time.Sleep(10 * time.Millisecond)
	}

	closed := make(chan struct{})
	go func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer ccancel()
		f.link.Close(cctx)
		close(closed)
	}()
	time.Sleep(300 * time.Millisecond)
	acks := map[int]bool{}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			break
		}
		var id int
		if _, err := fmt.Sscanf(string(b), "43%d[", &id); err == nil {
			acks[id] = true
		}
	}
	if !acks[10] {
		t.Fatalf("the link closed after %d of 11 acks, without the last send's: stored, never acknowledged", len(acks))
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return once the acks were read")
	}
}
