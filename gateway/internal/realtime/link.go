package realtime

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/token"
)

// Link is the gateway's Socket.IO client connection to chat-service. It
// authenticates with an internal token (sub "gateway", aud chat-service)
// minted afresh for every connection attempt, so a reconnect never presents
// an expired token; the library's own reconnection is off for that reason
// and Run reconnects instead.
type Link struct {
	url    string
	minter *session.Minter
	log    zerolog.Logger

	mu   sync.RWMutex
	sock *client.Socket
	up   atomic.Bool

	// hookBeforeHandlers, set only by tests, runs between the library's
	// connect and the registration of the link's handlers, to widen the
	// window in which the client's early events are missed.
	hookBeforeHandlers func(*client.Socket)
}

// NewLink returns a link to the chat-service at baseURL; call Run.
func NewLink(baseURL string, minter *session.Minter, log zerolog.Logger) *Link {
	return &Link{url: baseURL, minter: minter, log: log.With().Str("event.dataset", "socketio.link").Logger()}
}

// Run keeps the link connected until ctx ends, with capped exponential
// backoff between attempts.
func (l *Link) Run(ctx context.Context) {
	delay := 250 * time.Millisecond
	for ctx.Err() == nil {
		connectedFor := l.connectOnce(ctx)
		if connectedFor > 10*time.Second {
			delay = 250 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// connectTimeout bounds one connection attempt in the client library. It is
// short because of a start-up race in the client (v3.0.6): its manager
// subscribes to the engine's "open" after starting the engine, so a fast
// "open" can be missed and the attempt then only fails at this timeout; Run
// simply tries again.
const connectTimeout = 2 * time.Second

// connectOnce opens one connection and returns when it ends, reporting how
// long it was up.
func (l *Link) connectOnce(ctx context.Context) time.Duration {
	tok, err := l.minter.MintSelf(token.AudienceChat)
	if err != nil {
		logging.ErrorFields(l.log.Error(), err).Msg("chat link: mint token")
		return 0
	}
	opts := client.DefaultOptions()
	opts.SetForceNew(true)
	opts.SetMultiplex(false)
	opts.SetReconnection(false)
	opts.SetTimeout(connectTimeout)
	opts.SetTransports(types.NewSet(client.WebSocket))
	opts.SetAuth(map[string]any{"token": tok})
	// The library connects on its own (autoConnect). Calling Connect()
	// after SetAutoConnect(false) instead can send the namespace CONNECT
	// twice (the engine's "open" and the ready-state check both send it),
	// and the server closes a connection that does that.
	sock, err := client.Connect(l.url, opts)
	if err != nil {
		logging.ErrorFields(l.log.Error(), err).Msg("chat link: connect")
		return 0
	}
	if l.hookBeforeHandlers != nil {
		l.hookBeforeHandlers(sock)
	}
	ended := make(chan string, 1)
	end := func(reason string) {
		select {
		case ended <- reason:
		default:
		}
	}
	var since atomic.Int64 // unix nanos of the connect, 0 until then
	// markUp runs on "connect" or when Connected() shows a connect that
	// happened before the handler existed; whichever comes first counts.
	// It holds mu so that an attempt that has already ended (l.sock is no
	// longer sock) cannot mark the link up again.
	markUp := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.sock != sock || !since.CompareAndSwap(0, time.Now().UnixNano()) {
			return
		}
		l.up.Store(true)
		l.log.Info().Str("url.full", l.url).Msg("chat link connected")
	}
	l.mu.Lock()
	l.sock = sock
	l.mu.Unlock()
	_ = sock.On("connect", func(...any) { markUp() })
	_ = sock.On("connect_error", func(args ...any) { end("connect_error: " + describe(args)) })
	_ = sock.On("disconnect", func(args ...any) { end("disconnect: " + describe(args)) })
	// The manager's connect timer can outlive a fast connect (v3.0.6 arms it
	// before subscribing its cancellation to "open"): when it fires it closes
	// the engine and emits "error" on the manager, while the socket neither
	// disconnects nor stops reporting Connected(). Any manager error ends
	// this attempt, so the link reconnects instead of dying silently.
	_ = sock.Io().On("error", func(args ...any) { end("manager error: " + describe(args)) })
	// "connect" may have fired before the handler above was registered:
	// without this check such a link would stay down (every command a 503)
	// until chat-service happened to drop it.
	if sock.Connected() {
		markUp()
	}

	// Backstop for events missed the same way (a refusal or a connect and
	// drop before the handlers existed) or never emitted: an attempt that
	// is not connected shortly after the library's own timeout is ended.
	check := time.NewTimer(connectTimeout + time.Second)
	defer check.Stop()
	var reason string
	for reason == "" {
		select {
		case <-ctx.Done():
			reason = "gateway stopping"
		case reason = <-ended:
		case <-check.C:
			if !sock.Connected() {
				reason = "not connected within " + (connectTimeout + time.Second).String()
			} else {
				markUp()
			}
		}
	}
	l.mu.Lock()
	l.sock = nil
	l.up.Store(false)
	l.mu.Unlock()
	sock.Disconnect()
	up := time.Duration(0)
	if at := since.Load(); at != 0 {
		up = time.Since(time.Unix(0, at))
	}
	ev := l.log.Warn()
	if ctx.Err() != nil {
		ev = l.log.Info()
	}
	ev.Str("reason", reason).Dur("link.uptime", up).Msg("chat link down")
	return up
}

// describe renders the arguments of a connect_error/disconnect event.
func describe(args []any) string {
	for _, a := range args {
		switch v := a.(type) {
		case string:
			return v
		case error:
			return v.Error()
		}
	}
	return "unknown"
}

// Send implements Commander. When the link is down the reply is an
// immediate 503 ack; when chat-service does not ack within timeout it is a
// 504 ack. reply runs at most once.
func (l *Link) Send(event string, payload map[string]any, timeout time.Duration, reply func([]any)) {
	l.mu.RLock()
	sock := l.sock
	l.mu.RUnlock()
	if sock == nil || !l.up.Load() || !sock.Connected() {
		if reply != nil {
			reply(errorAck(http.StatusServiceUnavailable, "unavailable", "chat is unavailable; retry shortly"))
		}
		return
	}
	if reply == nil {
		_ = sock.Emit(event, payload)
		return
	}
	var once sync.Once
	answer := func(res []any) { once.Do(func() { reply(res) }) }
	timer := time.AfterFunc(timeout, func() {
		answer(errorAck(http.StatusGatewayTimeout, "gateway_timeout", "chat did not answer in time"))
	})
	ack := func(res []any, err error) {
		timer.Stop()
		if err != nil {
			// The link dropped with the command in flight.
			answer(errorAck(http.StatusServiceUnavailable, "unavailable", "chat link lost; retry"))
			return
		}
		answer(res)
	}
	if err := sock.Emit(event, payload, ack); err != nil {
		timer.Stop()
		answer(errorAck(http.StatusServiceUnavailable, "unavailable", "chat is unavailable; retry shortly"))
	}
}

// Check reports whether the link is connected, for /readyz.
func (l *Link) Check(context.Context) error {
	if !l.up.Load() {
		return errors.New("chat link is not connected")
	}
	return nil
}
