package realtime

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestDrainWritesAcksBeforeClosing: a stopping gateway answers a command
// and then closes its sockets; the ack must reach the client even when the
// socket's transport was still busy writing earlier packets (here 12 MB of
// deliveries to a client that has not read them yet, so the ack waits in
// the library's buffers). The library's Close discards those buffers, so
// without Drain waiting for them the client reads the deliveries, then the
// connection ends without the ack: a message stored whose sender never
// learns it.
func TestDrainWritesAcksBeforeClosing(t *testing.T) {
	r := newRig(t, Options{BufferLimit: 10_000})
	chatAck := map[string]any{"ok": true, "message": map[string]any{"id": "m1", "seq": float64(1)}}
	r.link.reply = func(string, map[string]any) []any { return []any{chatAck} }
	ws, _ := r.wsHandshake(t, "user-a", r.sessionToken("user-a", "s1"))

	body := `{"body":"` + strings.Repeat("x", 512<<10) + `"}`
	for range 24 {
		if err := r.srv.Deliver(context.Background(), delivery(t, "chat.message.created", []string{"user-a"}, body)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send := `427["message:send",{"conversationId":"c1","clientMsgId":"k1","body":"hi"}]`
	if err := ws.Write(ctx, websocket.MessageText, []byte(send)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.link.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the command never reached the link")
	}
	// The fake link answers inside Send, so the command is answered (and
	// no longer in flight) by now; the gateway stops as cmd/gateway does.
	drained := make(chan bool, 1)
	go func() {
		ok := r.srv.Drain(20 * time.Second)
		r.srv.Close()
		drained <- ok
	}()
	time.Sleep(300 * time.Millisecond)

	ws.SetReadLimit(1 << 21)
	acked, deliveries := false, 0
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			break
		}
		switch f := string(b); {
		case strings.HasPrefix(f, "42["):
			deliveries++
		case strings.HasPrefix(f, "437["):
			acked = true
			if !strings.Contains(f, `"ok":true`) {
				t.Errorf("ack %q, want chat-service's", f)
			}
		}
	}
	if !acked {
		t.Fatalf("the connection ended after %d of 24 deliveries without the command's ack", deliveries)
	}
	select {
	case ok := <-drained:
		if !ok {
			t.Error("Drain reported sockets left unwritten")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not return after the client read everything")
	}
}
