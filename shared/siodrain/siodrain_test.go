package siodrain_test

import (
	"context"
	"encoding/json"
	io2 "io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/shared/siodrain"
)

// server is a Socket.IO server whose sockets are counted by siodrain and
// announced on connected.
func server(t *testing.T) (*socket.Server, string, <-chan *socket.Socket) {
	t.Helper()
	io := socket.NewServer(nil, nil)
	connected := make(chan *socket.Socket, 1)
	_ = io.On("connection", func(args ...any) {
		sock := args[0].(*socket.Socket)
		sock.SetData(siodrain.Watch(sock))
		connected <- sock
	})
	hs := httptest.NewServer(io.ServeHandler(nil))
	t.Cleanup(func() { io.Close(nil); hs.Close() })
	return io, "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket", connected
}

func outbox(sock *socket.Socket) *siodrain.Outbox {
	o, _ := sock.Data().(*siodrain.Outbox)
	return o
}

// connect opens a WebSocket and joins the main namespace; nothing reads
// the connection afterwards until the test does.
func connect(t *testing.T, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	ws.SetReadLimit(2 << 20)
	if _, b, err := ws.Read(ctx); err != nil || !strings.HasPrefix(string(b), "0{") {
		t.Fatalf("open packet: %q, %v", b, err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || !strings.HasPrefix(string(b), "40{") {
		t.Fatalf("CONNECT answer: %q, %v", b, err)
	}
	return ws
}

// TestCloseWrittenLosesNothing: 12 MB of events are emitted to a client
// that reads nothing yet, so the transport is still writing and the last
// event waits in the library's buffers; CloseWritten must keep the socket
// open until the client has read it, then close it. The library's Close
// alone discards the buffers: the client reads what the kernel held, then
// the connection ends without the last event.
func TestCloseWrittenLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	io, url, connected := server(t)
	ws := connect(t, ctx, url)
	sock := <-connected

	big := strings.Repeat("x", 512<<10)
	for range 24 {
		sock.Emit("big", big)
	}
	sock.Emit("last", "the end")
	if siodrain.Written(sock, outbox(sock)) {
		t.Fatal("the socket counts as written while 12 MB wait for a client that does not read")
	}

	left := make(chan int, 1)
	go func() {
		n := siodrain.CloseWritten(io, outbox, time.Now().Add(20*time.Second))
		io.Close(nil)
		left <- n
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case n := <-left:
		t.Fatalf("CloseWritten returned (%d left) while the socket was still writing", n)
	default:
	}

	var got []string
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			break
		}
		var args []json.RawMessage
		if strings.HasPrefix(string(b), "42") && json.Unmarshal(b[2:], &args) == nil && len(args) > 0 {
			var name string
			_ = json.Unmarshal(args[0], &name)
			got = append(got, name)
		}
	}
	if len(got) != 25 || got[24] != "last" {
		t.Fatalf("the client read %d events before the connection ended, want the 24 big ones and last", len(got))
	}
	select {
	case n := <-left:
		if n != 0 {
			t.Errorf("CloseWritten left %d sockets open", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CloseWritten did not return once the client had read everything")
	}
}

// TestCloseWrittenGivesUpAtTheDeadline: a client that never reads keeps
// its socket unwritten; CloseWritten returns at the deadline, counting it.
func TestCloseWrittenGivesUpAtTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	io, url, connected := server(t)
	connect(t, ctx, url)
	sock := <-connected
	big := strings.Repeat("x", 512<<10)
	for range 24 {
		sock.Emit("big", big)
	}
	start := time.Now()
	if n := siodrain.CloseWritten(io, outbox, start.Add(200*time.Millisecond)); n != 1 {
		t.Fatalf("CloseWritten left %d sockets, want the one that cannot be written", n)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("CloseWritten took %v past a 200ms deadline", took)
	}
}

// TestCloseWrittenClosesIdleSockets: a socket with nothing to write is
// closed at once, and the client sees the connection end.
func TestCloseWrittenClosesIdleSockets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	io, url, connected := server(t)
	ws := connect(t, ctx, url)
	<-connected
	if n := siodrain.CloseWritten(io, outbox, time.Now().Add(5*time.Second)); n != 0 {
		t.Fatalf("CloseWritten left %d idle sockets open", n)
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal("the connection stayed open")
			}
			return
		}
		if string(b) == "2" {
			_ = ws.Write(ctx, websocket.MessageText, []byte("3"))
		}
	}
}

// TestCloseWrittenWaitsForTheNextPoll: over long-polling an event emitted
// while no GET waits stays in the socket's buffer; CloseWritten keeps the
// socket until the client's next GET has taken it.
func TestCloseWrittenWaitsForTheNextPoll(t *testing.T) {
	io, url, connected := server(t)
	base := "http" + strings.TrimPrefix(strings.TrimSuffix(url, "websocket"), "ws") + "polling"
	poll := func(method, sid, body string) string {
		t.Helper()
		u := base
		if sid != "" {
			u += "&sid=" + sid
		}
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io2.ReadAll(res.Body)
		return string(b)
	}
	open := poll(http.MethodGet, "", "")
	var hs struct{ Sid string }
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &hs) != nil {
		t.Fatalf("open packet %q", open)
	}
	if got := poll(http.MethodPost, hs.Sid, "40"); got != "ok" {
		t.Fatalf("CONNECT posted: %q", got)
	}
	sock := <-connected
	if got := poll(http.MethodGet, hs.Sid, ""); !strings.HasPrefix(got, "40{") {
		t.Fatalf("CONNECT answer %q", got)
	}
	sock.Emit("last", "the end")

	left := make(chan int, 1)
	go func() { left <- siodrain.CloseWritten(io, outbox, time.Now().Add(20*time.Second)) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case n := <-left:
		t.Fatalf("CloseWritten returned (%d left) with an event no GET has taken", n)
	default:
	}
	if got := poll(http.MethodGet, hs.Sid, ""); !strings.Contains(got, `42["last","the end"]`) {
		t.Fatalf("the next poll got %q, want the event", got)
	}
	select {
	case n := <-left:
		if n != 0 {
			t.Errorf("CloseWritten left %d sockets open", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CloseWritten did not return once the event was taken")
	}
}
