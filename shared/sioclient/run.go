package sioclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// readFrame reads one text frame.
func (c *Client) readFrame(ctx context.Context) ([]byte, error) {
	typ, frame, err := c.ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("sioclient: read: %w", err)
	}
	if typ != websocket.MessageText || len(frame) == 0 {
		return nil, fmt.Errorf("%w: binary or empty frame", errMalformed)
	}
	return frame, nil
}

// run serves the connection until it fails or ctx ends (Close), and
// returns why it ended. Every pending command has been answered when it returns.
func (c *Client) run(ctx context.Context) error {
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
	// Tell the server the connection is going (best effort: the socket
	// may be gone already), then drop the TCP connection.
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	return c.Err()
}

// read handles frames until the connection fails. A server that stays
// silent past pingInterval+pingTimeout is presumed dead.
func (c *Client) read(ctx context.Context) error {
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
				return fmt.Errorf("%w: nothing heard for %s", ErrPingTimeout, c.open.silence())
			}
			return err
		}
		switch frame[0] {
		case enginePing:
			if !c.enqueue(ctx, []byte{enginePong}) {
				return c.Err()
			}
			c.pongAgain()
		case engineClose:
			return errors.New("sioclient: server closed the engine")
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
func (c *Client) pongAgain() {
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
func (c *Client) handle(b []byte) error {
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
		return ErrServerDisconnect
	case packetEvent:
		return c.event(p)
	default:
		return fmt.Errorf("%w: unexpected packet type %q", errMalformed, p.Type)
	}
	return nil
}

// write sends queued frames, one at a time, until the connection ends.
// A write that cannot finish within the heartbeat window ends it. On
// Close it leaves the namespace the way Socket.IO clients do (so the
// server reports "client namespace disconnect") and closes the WebSocket
// with the closing handshake; frames still queued are dropped, their
// commands answered ErrUnavailable.
func (c *Client) write(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closing:
			c.end(ErrClosed)
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = c.ws.Write(wctx, websocket.MessageText, []byte{engineMessage, packetDisconnect})
			cancel()
			_ = c.ws.Close(websocket.StatusNormalClosure, "")
			return ErrClosed
		case frame := <-c.out:
			wctx, cancel := context.WithTimeout(ctx, c.open.silence())
			err := c.ws.Write(wctx, websocket.MessageText, frame)
			cancel()
			if err != nil {
				return fmt.Errorf("sioclient: write: %w", err)
			}
		}
	}
}

// enqueue hands frame to the writer; false when the connection ended or
// ctx ended first.
func (c *Client) enqueue(ctx context.Context, frame []byte) bool {
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
func (c *Client) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if err == nil {
		err = errors.New("sioclient: connection ended")
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

// Alive reports whether the connection has not ended yet.
func (c *Client) Alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// Err returns why the connection ended: nil while it is up, ErrClosed
// after Close, ErrServerDisconnect when the server left the socket, or
// the transport's error.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// event hands a server event to the OnEvent handler. An event asking for
// an ack is delivered the same way and not answered: no server of the
// project asks its clients for one.
func (c *Client) event(p packet) error {
	var args []json.RawMessage
	if err := json.Unmarshal(p.Data, &args); err != nil || len(args) == 0 {
		return fmt.Errorf("%w: event data %q", errMalformed, clip(p.Data))
	}
	var name string
	if err := json.Unmarshal(args[0], &name); err != nil {
		return fmt.Errorf("%w: event name %q", errMalformed, clip(args[0]))
	}
	if c.onEvent != nil {
		c.onEvent(name, args[1:])
	}
	return nil
}
