// Package sioclient is a small Socket.IO v5 client over Engine.IO v4,
// WebSocket transport only, default namespace only. It is the gateway's
// link to chat-service and the client of every Go test that talks to a
// Socket.IO server of the project.
//
// It connects within the caller's deadline (no timers of its own), writes
// from one goroutine, matches acks by id with a per-command timeout, and
// when the connection ends answers every command waiting on it at once.
// It exists because the Socket.IO client library (v3.0.6) has start-up
// races (a socket reported connected whose events are never dispatched,
// abandoned attempts, a doubled CONNECT) that no caller can work around.
package sioclient

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
	// ErrUnavailable is the error of an emit on a client whose connection
	// has ended, or of a command whose connection ended before the server
	// answered.
	ErrUnavailable = errors.New("sioclient: connection unavailable")
	// ErrTimeout is the error of a command the server did not answer
	// within its timeout.
	ErrTimeout = errors.New("sioclient: no answer in time")
	// ErrServerDisconnect is the end of a connection the server closed
	// with a namespace DISCONNECT ("io server disconnect").
	ErrServerDisconnect = errors.New("sioclient: server disconnected the socket")
	// ErrPingTimeout is the end of a connection the server stayed silent
	// on past its heartbeat (pingInterval + pingTimeout).
	ErrPingTimeout = errors.New("sioclient: ping timeout")
	// ErrClosed is the end of a connection closed by Close.
	ErrClosed = errors.New("sioclient: closed by the client")
)

// Reply receives a command's answer: the ACK packet's arguments as a JSON
// array, or ErrUnavailable or ErrTimeout. It runs once, on a goroutine of
// the client (it must not block).
type Reply func(args json.RawMessage, err error)

// Options shape one connection; the zero value is a plain connection.
type Options struct {
	// Header is sent with the WebSocket upgrade (Cookie, Origin,
	// Authorization).
	Header http.Header
	// Auth, when not nil, is the CONNECT packet's auth payload (a JSON
	// object).
	Auth any
	// HTTPClient performs the upgrade; nil uses the default client.
	HTTPClient *http.Client
	// OnEvent sees every event the server emits: its name and its
	// arguments. It runs on the reader goroutine, in arrival order, and
	// must not block.
	OnEvent func(name string, args []json.RawMessage)
	// Settle is how long Dial stays quiet after the server admitted the
	// socket (see DefaultSettle); 0 takes DefaultSettle, a negative value
	// none (for a caller that waits until the server has registered the
	// socket by other means).
	Settle time.Duration
	// ReadLimit bounds one frame from the server; 0 takes 32 MiB.
	ReadLimit int64
}

// DefaultSettle is how long a new connection stays quiet after the server
// admitted it. The Socket.IO server library (v3.0.6) writes the
// namespace's CONNECT answer before it records the namespace as joined,
// and closes a connection whose next packet arrives in between ("invalid
// state"); a client that sends at once loses that race now and then.
// Nothing the server sends marks the end of that window (the application's
// "connection" handler runs after it), so a client that cannot see the
// server's side waits a little before it sends.
const DefaultSettle = 25 * time.Millisecond

// writeQueue is how many frames may wait for the writer; a sender finding
// it full waits (until its timeout), so callers slow down instead of the
// queue growing without bound.
const writeQueue = 1024

// Client is one Engine.IO/Socket.IO connection, joined to the namespace
// "/". One goroutine reads, one writes; acks are matched to their
// commands by id. When anything fails the connection ends, and every
// command waiting for an ack is answered ErrUnavailable at once.
type Client struct {
	ws      *websocket.Conn
	open    openPacket
	id      string // the socket's id in the namespace
	out     chan []byte
	onEvent func(string, []json.RawMessage)

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*call
	err     error // set once, when the connection ends
	// repong sends the second pong of a ping (see read); stopped at the end.
	repong *time.Timer

	done      chan struct{} // closed when the connection ends
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	stopped   chan struct{} // closed when the goroutines have returned
}

// call is one command waiting for its ack.
type call struct {
	reply Reply
	timer *time.Timer
}

// socketURL turns a server's base URL into its Engine.IO WebSocket URL.
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
		return "", fmt.Errorf("sioclient: %q: want an http(s) URL", base)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	return u.String(), nil
}

// Dial connects to the Socket.IO server at base (an http(s) URL; the
// Engine.IO path /socket.io/ is appended) and joins "/", all within ctx,
// then waits o.Settle. A refusal (CONNECT_ERROR) is returned as a
// *ConnectError. The connection lives until Close or until it fails,
// independently of ctx.
func Dial(ctx context.Context, base string, o Options) (*Client, error) {
	wsURL, err := socketURL(base)
	if err != nil {
		return nil, err
	}
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPClient:      o.HTTPClient,
		HTTPHeader:      o.Header,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, fmt.Errorf("sioclient: dial: %w", err)
	}
	limit := o.ReadLimit
	if limit <= 0 {
		limit = 32 << 20
	}
	ws.SetReadLimit(limit)
	c := &Client{
		ws: ws, out: make(chan []byte, writeQueue), onEvent: o.OnEvent,
		pending: make(map[uint64]*call), done: make(chan struct{}), closing: make(chan struct{}), stopped: make(chan struct{}),
	}
	if err := c.handshake(ctx, o.Auth); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	settle := o.Settle
	if settle == 0 {
		settle = DefaultSettle
	}
	if settle > 0 {
		t := time.NewTimer(settle)
		defer t.Stop()
		select {
		case <-ctx.Done():
			_ = ws.CloseNow()
			return nil, fmt.Errorf("sioclient: connect: %w", ctx.Err())
		case <-t.C:
		}
	}
	go func() {
		defer close(c.stopped)
		c.run(context.Background())
	}()
	return c, nil
}

// SID is the Engine.IO session id.
func (c *Client) SID() string { return c.open.SID }

// ID is the socket's id in the namespace, as the server named it in its
// CONNECT answer (what the server's Socket.Id() returns).
func (c *Client) ID() string { return c.id }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the connection (a namespace DISCONNECT, then a WebSocket
// close) and waits until its goroutines have returned. Calling it again
// does nothing.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	<-c.stopped
	return nil
}

// handshake reads the open packet, sends CONNECT and waits for its answer.
func (c *Client) handshake(ctx context.Context, auth any) error {
	frame, err := c.readFrame(ctx)
	if err != nil {
		return err
	}
	if c.open, err = parseOpen(frame); err != nil {
		return err
	}
	connect, err := appendConnect(nil, auth)
	if err != nil {
		return err
	}
	if err := c.ws.Write(ctx, websocket.MessageText, connect); err != nil {
		return fmt.Errorf("sioclient: send connect: %w", err)
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
				return fmt.Errorf("sioclient: send pong: %w", err)
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
			var admit struct {
				SID string `json:"sid"`
			}
			if len(p.Data) > 0 {
				if err := json.Unmarshal(p.Data, &admit); err != nil {
					return fmt.Errorf("%w: connect answer: %v", errMalformed, err)
				}
			}
			c.id = admit.SID
			return nil
		case packetConnectError:
			return parseConnectError(p.Data)
		default:
			return fmt.Errorf("%w: packet type %q before the namespace answered", errMalformed, p.Type)
		}
	}
}
