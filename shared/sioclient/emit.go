package sioclient

import (
	"encoding/json"
	"fmt"
	"time"
)

// Send emits event with arg (JSON; nil sends the event without an
// argument). With a reply it asks for an ack: reply gets
// the ack's arguments, ErrTimeout after timeout, or ErrUnavailable as soon
// as the connection ends. Without one the event is sent and forgotten.
func (c *Client) Send(event string, arg json.RawMessage, timeout time.Duration, reply Reply) {
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
func (c *Client) trySend(frame []byte, timeout time.Duration) bool {
	select {
	case <-c.done: // checked first: room in the queue says nothing of the connection
		return false
	default:
	}
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

// Emit sends event with arg (marshalled to JSON; nil for none) without
// asking for an ack. It fails when arg does not marshal or the connection
// has ended; the frame is queued, not yet written, when it returns.
func (c *Client) Emit(event string, arg any) error {
	raw, err := marshalArg(arg)
	if err != nil {
		return err
	}
	if !c.trySend(appendEvent(nil, event, raw, 0, false), time.Second) {
		return ErrUnavailable
	}
	return nil
}

// EmitAck sends event with arg (marshalled to JSON; nil for none) and
// waits up to timeout for its ack; it returns the ack's arguments as a
// JSON array, or ErrTimeout or ErrUnavailable.
func (c *Client) EmitAck(event string, arg any, timeout time.Duration) (json.RawMessage, error) {
	raw, err := marshalArg(arg)
	if err != nil {
		return nil, err
	}
	type answer struct {
		args json.RawMessage
		err  error
	}
	got := make(chan answer, 1)
	c.Send(event, raw, timeout, func(args json.RawMessage, err error) { got <- answer{args, err} })
	a := <-got
	return a.args, a.err
}

func marshalArg(arg any) (json.RawMessage, error) {
	if arg == nil {
		return nil, nil
	}
	raw, err := json.Marshal(arg)
	if err != nil {
		return nil, fmt.Errorf("sioclient: marshal: %w", err)
	}
	return raw, nil
}
