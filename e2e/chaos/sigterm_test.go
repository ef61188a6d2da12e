package chaos

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// TestSigtermDrains: under steady chat traffic and REST reads, every
// instance of every service is stopped with SIGTERM in turn (and started
// again): each exits 0 within its shutdown timeout; no in-flight command
// or request fails except by a refusal the client retries (429/503/504)
// or, for a stopping gateway, its socket being closed so the client
// reconnects to the other; and nothing acknowledged is lost (the chaos
// invariants hold at the end).
func TestSigtermDrains(t *testing.T) {
	s := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, UserServices: 2, LinkAllChats: true, AllUserServices: true})
	w := New(t, s, Config{Conversations: 30, Rate: 45, RESTRate: 10, Seed: Seed(t)})
	w.Start()
	order := []*harness.Process{s.Gateways[0], s.Chats[0], s.UserServices[0], s.Auth, s.Gateways[1], s.Chats[1], s.UserServices[1]}
	for _, p := range order {
		pause(w.stop, 3*time.Second)
		w.Terminate(p, time.Second)
	}
	pause(w.stop, 3*time.Second)
	w.Finish(2 * time.Minute)
	for _, f := range w.Faults() {
		for what, n := range w.FailureCounts(f) {
			if !GracefulRefusal(what) {
				t.Errorf("%s: %d× %s: an in-flight command or request failed", f.What, n, what)
			}
		}
	}
}

// TestSigtermGatewayAnswersInFlight: commands a gateway has forwarded when
// it gets SIGTERM still get their acks on their sockets. chat-service is
// paused (SIGSTOP) so that five sends are surely in flight; the gateway is
// told to stop; a command arriving meanwhile is refused retryably (503
// unavailable, retryAfterMs) and the gateway takes no new socket; once
// chat-service resumes, the five acks arrive (created), then the sockets
// close at the transport and the gateway exits 0.
func TestSigtermGatewayAnswersInFlight(t *testing.T) {
	// The drain waits up to min(COMMAND_TIMEOUT, SHUTDOWN_TIMEOUT): 10 s
	// here, ample for the few steps between SIGTERM and SIGCONT.
	s := harness.Start(t, harness.Options{Gateways: 2, Env: map[string][]string{"gateway": {"SHUTDOWN_TIMEOUT=15s"}}})
	gw, chat := s.Gateways[0], s.Chats[0]
	other := harness.NewClient(t, s.Gateways[1].URL()).SignUp()
	type sender struct {
		c    *harness.Client
		sock *harness.Socket
		conv string
	}
	var senders []sender
	for range 5 {
		c := harness.NewClient(t, gw.URL()).SignUp()
		senders = append(senders, sender{c, c.Connect(), c.CreateGroup("drain", other.UserID).ID})
	}
	late := harness.NewClient(t, gw.URL()).SignUp()
	lateSock := late.Connect()
	lateConv := late.CreateGroup("late", other.UserID).ID

	if err := syscall.Kill(chat.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(chat.Pid(), syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	acks := make(chan harness.Ack, len(senders))
	for i, sd := range senders {
		sd.sock.EmitAsync("message:send", map[string]any{"conversationId": sd.conv, "clientMsgId": fmt.Sprintf("in-flight-%d", i), "body": "sent before SIGTERM"},
			30*time.Second, func(a harness.Ack) { acks <- a })
	}
	harness.Eventually(t, 15*time.Second, "five commands in flight at the gateway", func() error {
		m, err := gw.Metrics()
		if err != nil {
			return err
		}
		if n := harness.Sum(m, "parley_socketio_commands_in_flight"); n != float64(len(senders)) {
			return fmt.Errorf("%v in flight", n)
		}
		return nil
	})

	stopped := make(chan error, 1)
	go func() { _, err := gw.Terminate(30 * time.Second); stopped <- err }()
	// Draining: the listener is closed (no new socket), and a command on
	// an open socket is refused retryably without being forwarded.
	harness.Eventually(t, 10*time.Second, "the stopping gateway takes no new socket", func() error {
		if _, err := harness.DialSocket(t, gw.URL(), harness.SocketOptions{Header: late.SocketHeader()}); err == nil {
			return fmt.Errorf("a new socket was accepted")
		}
		return nil
	})
	refused := make(chan harness.Ack, 1)
	lateSock.EmitAsync("message:send", map[string]any{"conversationId": lateConv, "clientMsgId": "late", "body": "sent while stopping"},
		10*time.Second, func(a harness.Ack) { refused <- a })
	if a := <-refused; a.Err != nil || a.OK || a.Error == nil || a.Error.Status != 503 || a.Error.Code != "unavailable" || a.RetryAfterMs <= 0 {
		t.Errorf("a command while the gateway stops: ack %s, want 503 unavailable with retryAfterMs", a)
	}
	resume()
	for range senders {
		a := <-acks
		if a.Err != nil || !a.OK || a.Created == nil || !*a.Created {
			t.Errorf("a send in flight at SIGTERM: ack %s, want ok and created", a)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if code := gw.ExitCode(); code != 0 {
		t.Errorf("gateway exit status %d after SIGTERM", code)
	}
	for _, sd := range senders {
		select {
		case <-sd.sock.Gone():
		case <-time.After(10 * time.Second):
			t.Fatal("a socket of the stopped gateway is still open")
		}
		if r := sd.sock.DisconnectReason(); r != "transport close" {
			t.Errorf("socket closed with %q, want transport close (clients reconnect)", r)
		}
	}
	if n := s.Count(t, "chat-service", `SELECT count(*) FROM messages WHERE client_msg_id = 'late'`); n != 0 {
		t.Errorf("the refused command was stored %d times", n)
	}
}
