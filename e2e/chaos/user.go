package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/e2e/harness"
)

// User is one chat user following the documented client algorithm: one
// socket at a time, to one gateway; a command without an ack (the socket
// went, or it timed out) or refused retryably (429, 503, 504) is sent
// again with the same clientMsgId until it is acknowledged; after every
// reconnect, and on sync:required, it runs `sync` from the last eventSeq
// it holds without a hole, again while the answer reports gaps; a refused
// handshake or command for an expired session refreshes over REST.
type User struct {
	w     *World
	idx   int
	C     *harness.Client
	ID    string
	convs []*Conv

	sends   chan *send
	syncReq chan struct{}
	drained chan struct{} // closed once sends is closed and every send settled

	// gw is the index of the gateway the user connects to next; only the
	// user's goroutine touches it and sock.
	gw   int
	sock *harness.Socket
	up   atomic.Bool // set once the first connection has synced
	// needSync is set by a new socket and by sync:required.
	needSync bool

	mu sync.Mutex
	// cursor is, per conversation, the last eventSeq held with nothing
	// missing before it; above holds eventSeqs received past a hole.
	cursor map[string]int64
	above  map[string]map[int64]bool
	// view is what the user holds: per conversation, message id → seq,
	// received live or from sync.
	view map[string]map[string]int64
	// clashes counts a message id received with two different seqs.
	clashes int
	// dupLive counts events received live twice on one socket; outOfOrder
	// events received live on one socket after a later one of their
	// conversation.
	dupLive, outOfOrder int
	live, fromSync      int
	syncRequired        int
	// failingSince is when the user's first unrecovered failure happened
	// (zero while all is well), for the time-to-recover figures.
	failingSince time.Time
	failFault    int
	pending      int // sends queued or in flight
	refused      []string
}

// conn is the state of one socket: what it received live.
type conn struct {
	live map[string]bool
	last map[string]int64
}

// send is one message a user means to post.
type send struct {
	conv        *Conv
	clientMsgID string
	body        string
}

// acked is one acknowledged send, as the sender learned it.
type acked struct {
	conv, sender, clientMsgID, id string
	seq                           int64
	created                       bool
}

func newUser(w *World, idx int, c *harness.Client) *User {
	return &User{
		w: w, idx: idx, C: c, ID: c.UserID, gw: idx % len(w.s.Gateways),
		sends: make(chan *send, 100000), syncReq: make(chan struct{}, 1), drained: make(chan struct{}),
		cursor: map[string]int64{}, above: map[string]map[int64]bool{}, view: map[string]map[string]int64{},
	}
}

// run is the user's client loop: it keeps a socket, sends what it is
// given, and syncs when told to, until stop closes.
func (u *User) run(stop <-chan struct{}) {
	defer func() {
		if u.sock != nil {
			u.sock.Close()
		}
	}()
	sends := u.sends
	for {
		if !u.ready(stop) {
			return
		}
		select {
		case <-stop:
			return
		case <-u.sock.Gone():
		case <-u.syncReq:
			u.needSync = true
		case s, ok := <-sends:
			if !ok {
				sends = nil
				close(u.drained)
				continue
			}
			u.deliver(s, stop)
		}
	}
}

// ready makes sure the user has a live socket that has synced since it
// connected (and since the last sync:required); false once stop closes.
func (u *User) ready(stop <-chan struct{}) bool {
	for {
		if !u.connect(stop) {
			return false
		}
		if !u.needSync {
			u.up.Store(true)
			return true
		}
		u.needSync = false
		if !u.sync(stop) {
			u.needSync = true
			if !pause(stop, 50*time.Millisecond) {
				return false
			}
		}
	}
}

// connect makes sure the user has a live socket, reconnecting (to the
// next gateway) when it has none; a new socket needs a sync. It reports
// false once stop closes.
func (u *User) connect(stop <-chan struct{}) bool {
	if u.sock != nil && u.sock.Connected() {
		return true
	}
	first := u.sock == nil
	if !first {
		<-u.sock.Gone() // closed just after the connection ends, with the reason
		u.failed("disconnect:" + u.sock.DisconnectReason())
		u.sock.Close()
		u.gw = (u.gw + 1) % len(u.w.s.Gateways)
	}
	for attempt := 0; ; attempt++ {
		select {
		case <-stop:
			return false
		default:
		}
		base := u.w.s.Gateways[u.gw].URL()
		c := &conn{live: map[string]bool{}, last: map[string]int64{}}
		sock, err := harness.DialSocket(u.w.tb, base, harness.SocketOptions{
			Header:  http.Header{"Cookie": {harness.SessionCookie + "=" + u.C.Session()}, "Origin": {base}},
			OnEvent: func(e harness.SocketEvent) { u.onEvent(c, e) },
			Discard: true,
		})
		if err == nil {
			u.sock, u.needSync = sock, true
			if !first {
				u.w.count(&u.w.reconnects)
			}
			return true
		}
		var ce *harness.ConnectError
		code := "transport"
		switch {
		case errors.As(err, &ce) && ce.Code != "":
			code = ce.Code
		case strings.Contains(err.Error(), "connection refused"):
			code = "refused" // the instance is not listening
		}
		u.failed("connect:" + code)
		if code == "token_expired" || code == "unauthorized" {
			u.refresh()
		}
		u.gw = (u.gw + 1) % len(u.w.s.Gateways)
		if !pause(stop, min(50*time.Millisecond<<min(attempt, 5), time.Second)) {
			return false
		}
	}
}

// refresh renews the session over REST, on any gateway that answers.
func (u *User) refresh() {
	for _, g := range u.w.s.Gateways {
		// A copy sharing the cookie jar: cookies are kept per host, so
		// the renewed ones serve every gateway on 127.0.0.1.
		c := *u.C
		c.Base = g.URL()
		if r, err := c.DoErr(http.MethodPost, "/api/v1/auth/refresh", nil); err == nil && r.Status == http.StatusOK {
			return
		}
	}
}

// onEvent runs on the socket's reader goroutine.
func (u *User) onEvent(c *conn, e harness.SocketEvent) {
	switch e.Name {
	case "sync:required":
		u.mu.Lock()
		u.syncRequired++
		u.mu.Unlock()
		select {
		case u.syncReq <- struct{}{}:
		default:
		}
	case "message:new", "message:updated", "message:deleted":
		var m harness.Message
		if json.Unmarshal(e.Data, &m) != nil {
			u.w.t.Errorf("undecodable %s %s", e.Name, e.Data)
			return
		}
		u.apply(c, false, m.ConversationID, m.EventSeq, m.ID, m.Seq)
	case "conversation:new", "conversation:updated":
		var cv harness.Conversation
		if json.Unmarshal(e.Data, &cv) == nil {
			u.apply(c, false, cv.ID, cv.LastEventSeq, "", 0)
		}
	}
}

// apply records one event of conversation conv, live (c set), from sync
// (fromSync) or from the user's own ack.
func (u *User) apply(c *conn, fromSync bool, conv string, eventSeq int64, msgID string, seq int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, mine := u.cursor[conv]; !mine {
		return
	}
	if c != nil {
		u.live++
		k := fmt.Sprintf("%s/%d", conv, eventSeq)
		if c.live[k] {
			u.dupLive++
		}
		c.live[k] = true
		if eventSeq <= c.last[conv] {
			u.outOfOrder++
		}
		c.last[conv] = max(c.last[conv], eventSeq)
	} else if fromSync {
		u.fromSync++
	}
	if msgID != "" {
		v := u.view[conv]
		if v == nil {
			v = map[string]int64{}
			u.view[conv] = v
		}
		if old, ok := v[msgID]; ok && old != seq {
			u.clashes++
		}
		v[msgID] = seq
	}
	if eventSeq <= u.cursor[conv] {
		return
	}
	a := u.above[conv]
	if a == nil {
		a = map[int64]bool{}
		u.above[conv] = a
	}
	a[eventSeq] = true
	for a[u.cursor[conv]+1] {
		u.cursor[conv]++
		delete(a, u.cursor[conv])
	}
}

// sync asks for everything after each conversation's cursor, again while
// the answer reports gaps; false when an attempt failed (sync again).
func (u *User) sync(stop <-chan struct{}) bool {
	for round := 0; round < 50; round++ {
		u.mu.Lock()
		req := map[string]int64{}
		for _, c := range u.convs {
			req[c.ID] = u.cursor[c.ID]
		}
		u.mu.Unlock()
		a, done := u.try("sync", map[string]any{"conversations": req}, stop)
		if !done || !a.OK {
			return done
		}
		u.w.count(&u.w.syncs)
		for _, e := range a.Events {
			var m harness.Message
			if e.Type == "message:new" || e.Type == "message:updated" || e.Type == "message:deleted" {
				if json.Unmarshal(e.Payload, &m) != nil {
					u.w.t.Errorf("undecodable sync %s %s", e.Type, e.Payload)
				}
			}
			u.apply(nil, true, e.ConversationID, e.EventSeq, m.ID, m.Seq)
		}
		if len(a.Gaps) == 0 {
			u.recovered()
			return true
		}
	}
	u.w.t.Errorf("user %d: sync still reports gaps after 50 rounds", u.idx)
	return true
}

// deliver sends s until it is acknowledged (or refused for good).
func (u *User) deliver(s *send, stop <-chan struct{}) {
	defer func() {
		u.mu.Lock()
		u.pending--
		u.mu.Unlock()
	}()
	var lost unsure
	a, ok := u.command("message:send", map[string]any{"conversationId": s.conv.ID, "clientMsgId": s.clientMsgID, "body": s.body}, stop, &lost)
	if !ok || !a.OK {
		return
	}
	if lost.linkLost > 0 && lost.noAck == 0 && a.Created != nil && !*a.Created {
		// The gateway answered link_unavailable (its link dropped with the
		// command in flight) but chat-service had stored it: chat-service
		// lost the ack.
		u.failed("message:send:link_ack_lost")
	}
	if lost.noAck > 0 && a.Created != nil && !*a.Created {
		// An attempt without an ack had been stored: the command was in
		// flight and its ack was lost (the resend found it). An attempt
		// that never reached chat-service comes back created.
		u.failed("message:send:ack_lost")
	}
	if a.Message == nil {
		u.w.t.Errorf("send ack without a message: %s", a)
		return
	}
	u.w.ack(acked{conv: s.conv.ID, sender: u.ID, clientMsgID: s.clientMsgID, id: a.Message.ID, seq: a.Message.Seq, created: a.Created == nil || *a.Created})
	// The sender's own message is part of its view (clients show what
	// they sent from the ack).
	u.apply(nil, false, s.conv.ID, a.Message.EventSeq, a.Message.ID, a.Message.Seq)
}

// retryable are the refusals the documented client answers by sending the
// same command again after retryAfterMs.
var retryable = map[int]bool{http.StatusTooManyRequests: true, http.StatusServiceUnavailable: true, http.StatusGatewayTimeout: true}

// command sends one command until it gets an ok ack or a refusal for
// good, reconnecting (and syncing) when the socket goes; ok is false once
// stop closes.
// unsure counts attempts whose outcome the client cannot know: no ack at
// all, or the gateway's link_unavailable (the link dropped with the
// command in flight).
type unsure struct{ noAck, linkLost int }

func (u *User) command(event string, data any, stop <-chan struct{}, lost *unsure) (harness.Ack, bool) {
	for attempt := 0; ; attempt++ {
		if !u.ready(stop) {
			return harness.Ack{}, false
		}
		if attempt > 0 && event == "message:send" {
			u.w.resent(u)
		}
		a, done := u.try(event, data, stop)
		if done {
			return a, true
		}
		switch {
		case a.Err != nil:
			lost.noAck++
		case a.Error != nil && a.Error.Code == "link_unavailable":
			lost.linkLost++
		}
		select {
		case <-stop:
			return a, false
		default:
		}
	}
}

// try sends one command once on the current socket. done is true for an
// ok ack or a refusal for good (recorded); false when it should be sent
// again (no ack, a retryable refusal: the wait it asked for is over).
func (u *User) try(event string, data any, stop <-chan struct{}) (a harness.Ack, done bool) {
	got := make(chan harness.Ack, 1)
	sent := time.Now()
	u.sock.EmitAsync(event, data, u.w.cfg.AckTimeout, func(a harness.Ack) { got <- a })
	select {
	case a = <-got:
	case <-stop:
		return a, false
	}
	switch {
	case a.Err != nil:
		u.failed(event + ":no_ack")
		// The socket is going, or the ack timed out on a live one: send
		// again once connected.
		if u.sock.Connected() {
			pause(stop, 100*time.Millisecond)
		}
		return a, false
	case a.OK:
		u.recovered()
		if event == "message:send" {
			u.w.ackLatency(time.Since(sent))
		}
		return a, true
	case a.Error == nil:
		u.w.t.Errorf("%s: ack neither ok nor an error: %s", event, a)
		return a, true
	}
	u.failed(fmt.Sprintf("%s:%d %s", event, a.Error.Status, a.Error.Code))
	switch {
	case a.Error.Code == "token_expired":
		u.refresh()
		u.sock.Close()
		return a, false
	case retryable[a.Error.Status]:
		pause(stop, time.Duration(min(max(a.RetryAfterMs, 50), 1000))*time.Millisecond)
		return a, false
	}
	u.mu.Lock()
	u.refused = append(u.refused, fmt.Sprintf("%s: %s", event, a))
	u.mu.Unlock()
	return a, true
}

// failed records a client-visible failure, attributed to the fault under
// way.
func (u *User) failed(what string) {
	f := u.w.failure(what)
	u.mu.Lock()
	if u.failingSince.IsZero() {
		u.failingSince, u.failFault = time.Now(), f
	}
	u.mu.Unlock()
}

// recovered ends a failure episode: the user's commands are acknowledged
// again.
func (u *User) recovered() {
	u.mu.Lock()
	since, f := u.failingSince, u.failFault
	u.failingSince = time.Time{}
	u.mu.Unlock()
	if !since.IsZero() {
		u.w.recoveredFrom(f, time.Now())
	}
}

// enqueue hands the user a message to send; false when its queue is full.
func (u *User) enqueue(c *Conv) bool {
	u.mu.Lock()
	u.pending++
	u.mu.Unlock()
	select {
	case u.sends <- &send{conv: c, clientMsgID: uuid.NewString(), body: "chaos " + uuid.NewString()[:8]}:
		return true
	default:
		u.mu.Lock()
		u.pending--
		u.mu.Unlock()
		return false
	}
}

// Pending is the number of sends queued or in flight.
func (u *User) Pending() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pending
}

// pause waits d or until stop closes; it reports whether stop is open.
func pause(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}
