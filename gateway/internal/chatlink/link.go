package chatlink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/sioclient"
)

// link keeps one connection to one chat-service instance, reconnecting
// with capped backoff for as long as its Run lasts.
type link struct {
	base string
	pool *Pool
	log  zerolog.Logger
	cur  atomic.Pointer[sioclient.Client]
}

// current returns the connected connection, or nil when there is none or
// it has ended (its run may not have returned yet).
func (l *link) current() *sioclient.Client {
	if c := l.cur.Load(); c != nil && c.Alive() {
		return c
	}
	return nil
}

// run connects and reconnects until ctx ends. After a connection that was
// up, the next attempt follows at once; failed attempts back off from
// MinBackoff doubling to MaxBackoff (with jitter), so a chat-service that
// becomes ready is found within MaxBackoff plus one connect.
func (l *link) run(ctx context.Context) {
	delay := l.pool.opts.MinBackoff
	failures := 0
	for ctx.Err() == nil {
		wasUp, err := l.connectOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if wasUp {
			delay, failures = l.pool.opts.MinBackoff, 0
		} else {
			failures++
			// The first failure and then every twentieth are warnings;
			// the rest would fill the log while chat-service is down.
			ev := l.log.Debug()
			if failures == 1 || failures%20 == 0 {
				ev = l.log.Warn()
			}
			logging.ErrorFields(ev, err).Int("link.failures", failures).Msg("chat link: connect failed")
		}
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(delay*2, l.pool.opts.MaxBackoff)
	}
}

// connectOnce makes one attempt, bounded by ConnectTimeout, and serves the
// connection until it ends. It reports whether the link was up.
func (l *link) connectOnce(ctx context.Context) (bool, error) {
	tok, err := l.pool.opts.Token()
	if err != nil {
		return false, err
	}
	cctx, cancel := context.WithTimeout(ctx, l.pool.opts.ConnectTimeout)
	c, err := dial(cctx, l.base, tok, l.pool.opts.HTTPClient)
	cancel()
	if err != nil {
		return false, err
	}
	since := time.Now()
	l.cur.Store(c)
	l.pool.connects.Add(1)
	l.log.Info().Str("link.sid", c.SID()).Msg("chat link connected")
	select {
	case <-ctx.Done():
		_ = c.Close()
	case <-c.Done():
	}
	reason := c.Err()
	l.cur.CompareAndSwap(c, nil)
	ev := l.log.Warn()
	if ctx.Err() != nil {
		ev = l.log.Info()
	}
	logging.ErrorFields(ev, reason).Dur("link.uptime", time.Since(since)).Msg("chat link down")
	return true, nil
}

// newLink prepares a link to the chat-service at base.
func newLink(p *Pool, base string) (*link, error) {
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("chatlink: %q: want an http(s) URL", base)
	}
	return &link{
		base: base, pool: p,
		log: p.opts.Log.With().Str("event.dataset", "socketio.link").Str("url.full", base).Logger(),
	}, nil
}

// defaultClient dials chat-service without the default client's global
// state or proxy settings: the link is an internal connection.
func defaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, ForceAttemptHTTP2: false}}
}

// dial connects to the chat-service at base and joins "/" with token,
// within ctx: the WebSocket upgrade carries the token as a bearer
// Authorization header, and the namespace CONNECT carries it as
// {"token": ...}. It waits sioclient.DefaultSettle after the admission: the
// link cannot see chat-service's side, and the server library closes a
// connection whose first packet comes too early.
func dial(ctx context.Context, base, token string, client *http.Client) (*sioclient.Client, error) {
	c, err := sioclient.Dial(ctx, base, sioclient.Options{
		Header:     http.Header{"Authorization": {"Bearer " + token}},
		Auth:       map[string]string{"token": token},
		HTTPClient: client,
	})
	if err != nil {
		return nil, fmt.Errorf("chatlink: %w", err)
	}
	return c, nil
}
