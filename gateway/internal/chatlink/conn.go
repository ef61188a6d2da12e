package chatlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

var (
	// ErrUnavailable is the error of a command that found no connected
	// link, or whose link ended before chat-service answered.
	ErrUnavailable = errors.New("chatlink: link unavailable")
	// ErrTimeout is the error of a command chat-service did not answer
	// within its timeout.
	ErrTimeout = errors.New("chatlink: no answer in time")
)

// Reply receives a command's answer: the ACK packet's arguments as a JSON
// array, or ErrUnavailable or ErrTimeout. It runs once, on a goroutine of
// the connection (it must not block).
type Reply func(args json.RawMessage, err error)

// readLimit bounds one frame from chat-service; a sync answer carries many
// messages, so it is far above what a command needs.
const readLimit = 32 << 20

// writeQueue is how many frames may wait for the writer; a sender finding
// it full waits (until its timeout), so callers slow down instead of the
// queue growing without bound.
const writeQueue = 1024

// conn is one Engine.IO/Socket.IO connection to chat-service, connected to
// the namespace "/". One goroutine reads, one writes; acks are matched to
// their commands by id. When anything fails the connection ends, and every
// command waiting for an ack is answered ErrUnavailable at once.
type conn struct {
	ws   *websocket.Conn
	open openPacket
	out  chan []byte

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*call
	err     error // set once, when the connection ends
	// repong sends the second pong of a ping (see read); stopped at the end.
	repong *time.Timer

	done chan struct{} // closed when the connection ends
}

// settle is how long a new connection stays quiet after chat-service
// admitted it. The Socket.IO server library (v3.0.6) writes the namespace's
// CONNECT answer before it records the namespace as joined, and closes a
// connection whose next packet arrives in between ("invalid state"); a
// client that sends at once loses that race now and then. Nothing the
// server sends marks the end of that window, so the link waits a little
// before it carries commands.
const settle = 25 * time.Millisecond

// call is one command waiting for its ack.
type call struct {
	reply Reply
	timer *time.Timer
}

// socketURL turns a chat-service base URL into its Engine.IO WebSocket URL.
func socketURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("chatlink: %q: want an http(s) URL", base)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	return u.String(), nil
}

// dial connects to the chat-service at wsURL and joins "/" with token, all
// within ctx: the WebSocket upgrade carries the token as a bearer
// Authorization header, and the namespace CONNECT carries it as
// {"token": ...}. A refusal (CONNECT_ERROR) is returned as connectError.
func dial(ctx context.Context, wsURL, token string, client *http.Client) (*conn, error) {
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPClient:      client,
		HTTPHeader:      http.Header{"Authorization": {"Bearer " + token}},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, fmt.Errorf("chatlink: dial: %w", err)
	}
	ws.SetReadLimit(readLimit)
	c := &conn{ws: ws, out: make(chan []byte, writeQueue), pending: make(map[uint64]*call), done: make(chan struct{})}
	if err := c.handshake(ctx, token); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	return c, nil
}

// handshake reads the open packet, sends CONNECT and waits for its answer.
func (c *conn) handshake(ctx context.Context, token string) error {
	frame, err := c.readFrame(ctx)
	if err != nil {
		return err
	}
	if c.open, err = parseOpen(frame); err != nil {
		return err
	}
	connect, err := appendConnect(nil, map[string]string{"token": token})
	if err != nil {
		return err
	}
	if err := c.ws.Write(ctx, websocket.MessageText, connect); err != nil {
		return fmt.Errorf("chatlink: send connect: %w", err)
	}
	for {
		frame, err := c.readFrame(ctx)
		if err != nil {
			return err
		}
		switch frame[0] {
		case enginePing:
			// A server slow to answer CONNECT may ping first.
			if err := c.ws.Write(ctx, websocket.MessageText, []byte{enginePong}); err != nil {
				return fmt.Errorf("chatlink: send pong: %w", err)
			}
			continue
		case engineMessage:
		default:
			return fmt.Errorf("%w: %q before the namespace answered", errMalformed, clip(frame))
		}
		p, err := parsePacket(frame[1:])
		if err != nil {
			return err
		}
		switch p.Type {
		case packetConnect:
			t := time.NewTimer(settle)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return fmt.Errorf("chatlink: connect: %w", ctx.Err())
			case <-t.C:
				return nil
			}
		case packetConnectError:
			var ce connectError
			if err := json.Unmarshal(p.Data, &ce); err != nil {
				return fmt.Errorf("%w: connect error: %v", errMalformed, err)
			}
			return ce
		default:
			return fmt.Errorf("%w: packet type %q before the namespace answered", errMalformed, p.Type)
		}
	}
}

// readFrame reads one text frame.
func (c *conn) readFrame(ctx context.Context) ([]byte, error) {
	typ, frame, err := c.ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("chatlink: read: %w", err)
	}
	if typ != websocket.MessageText || len(frame) == 0 {
		return nil, fmt.Errorf("%w: binary or empty frame", errMalformed)
	}
	return frame, nil
}

// run serves the connection until it fails or ctx ends, and returns why it
// ended. Every pending command has been answered when it returns.
func (c *conn) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.end(c.write(ctx))
		cancel() // a failed write ends the reader's wait too
	}()
	c.end(c.read(ctx))
	cancel()
	<-writerDone
	// Tell chat-service the link is going (best effort: the socket may be
	// gone already), then drop the TCP connection without waiting.
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	return c.err
}

// read handles frames until the connection fails. A server that stays
// silent past pingInterval+pingTimeout is presumed dead.
func (c *conn) read(ctx context.Context) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, c.open.silence())
		frame, err := c.readFrame(rctx)
		silent := errors.Is(rctx.Err(), context.DeadlineExceeded)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if silent {
				return fmt.Errorf("chatlink: nothing heard for %s (ping timeout)", c.open.silence())
			}
			return err
		}
		switch frame[0] {
		case enginePing:
			if !c.enqueue(ctx, []byte{enginePong}) {
				return c.ended()
			}
			c.pongAgain()
		case engineClose:
			return errors.New("chatlink: server closed the engine")
		case engineMessage:
			if err := c.handle(frame[1:]); err != nil {
				return err
			}
		case enginePong:
		default:
			return fmt.Errorf("%w: engine packet %q", errMalformed, clip(frame))
		}
	}
}

// pongAgain schedules a second pong for the ping just answered. The
// Socket.IO server library (v3.0.6) sends a ping and only then arms its
// pong timeout; a pong that arrives in between clears nothing, and the
// timeout armed after it closes a healthy connection one pingTimeout later
// ("ping timeout"). A second pong, well after the timeout is armed and
// well before it fires, clears it. Servers without that race take the
// extra pong as one more sign of life.
func (c *conn) pongAgain() {
	delay := c.open.repong()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return // ended
	}
	if c.repong != nil {
		c.repong.Stop()
	}
	c.repong = time.AfterFunc(delay, func() { c.trySend([]byte{enginePong}, 0) })
}

// handle processes one Socket.IO packet from chat-service.
func (c *conn) handle(b []byte) error {
	p, err := parsePacket(b)
	if err != nil {
		return err
	}
	switch p.Type {
	case packetAck:
		if !p.HasID {
			return fmt.Errorf("%w: ack without id", errMalformed)
		}
		c.mu.Lock()
		cl := c.pending[p.ID]
		delete(c.pending, p.ID)
		c.mu.Unlock()
		if cl != nil && cl.timer.Stop() {
			cl.reply(p.Data, nil)
		}
	case packetDisconnect:
		return errors.New("chatlink: chat-service disconnected the link")
	case packetEvent:
		// chat-service emits nothing to the gateway over the link today;
		// an event is ignored, as tolerant readers do.
	default:
		return fmt.Errorf("%w: unexpected packet type %q", errMalformed, p.Type)
	}
	return nil
}

// write sends queued frames, one at a time, until the connection ends.
// A write that cannot finish within the heartbeat window ends the link.
func (c *conn) write(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case frame := <-c.out:
			wctx, cancel := context.WithTimeout(ctx, c.open.silence())
			err := c.ws.Write(wctx, websocket.MessageText, frame)
			cancel()
			if err != nil {
				return fmt.Errorf("chatlink: write: %w", err)
			}
		}
	}
}

// enqueue hands frame to the writer; false when the connection ended or
// ctx ended first.
func (c *conn) enqueue(ctx context.Context, frame []byte) bool {
	select {
	case c.out <- frame:
		return true
	default:
	}
	select {
	case c.out <- frame:
		return true
	case <-c.done:
		return false
	case <-ctx.Done():
		return false
	}
}

// end records why the connection ended (the first reason wins) and answers
// every pending command ErrUnavailable.
func (c *conn) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if err == nil {
		err = errors.New("chatlink: connection ended")
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	if c.repong != nil {
		c.repong.Stop()
	}
	close(c.done)
	c.mu.Unlock()
	for _, cl := range pending {
		if cl.timer.Stop() {
			cl.reply(nil, ErrUnavailable)
		}
	}
}

// alive reports whether the connection has not ended yet.
func (c *conn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// ended returns the reason the connection ended.
func (c *conn) ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// send emits event with arg. With a reply it asks for an ack: reply gets
// the ack's arguments, ErrTimeout after timeout, or ErrUnavailable as soon
// as the connection ends. Without one the event is sent and forgotten.
func (c *conn) send(event string, arg json.RawMessage, timeout time.Duration, reply Reply) {
	if reply == nil {
		c.trySend(appendEvent(nil, event, arg, 0, false), timeout)
		return
	}
	c.mu.Lock()
	if c.pending == nil {
		c.mu.Unlock()
		reply(nil, ErrUnavailable)
		return
	}
	c.nextID++
	id := c.nextID
	cl := &call{reply: reply}
	// The timer is armed before the frame is queued, so a command stuck
	// behind a full queue still ends at its timeout.
	cl.timer = time.AfterFunc(timeout, func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		reply(nil, ErrTimeout)
	})
	c.pending[id] = cl
	c.mu.Unlock()
	if !c.trySend(appendEvent(nil, event, arg, id, true), timeout) {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		if cl.timer.Stop() {
			reply(nil, ErrUnavailable)
		}
	}
}

// trySend queues frame, waiting at most timeout for room (the common case,
// room in the queue, costs no timer).
func (c *conn) trySend(frame []byte, timeout time.Duration) bool {
	select {
	case c.out <- frame:
		return true
	case <-c.done:
		return false
	default:
	}
	t := time.NewTimer(max(timeout, time.Millisecond))
	defer t.Stop()
	select {
	case c.out <- frame:
		return true
	case <-c.done:
		return false
	case <-t.C:
		return false
	}
}
