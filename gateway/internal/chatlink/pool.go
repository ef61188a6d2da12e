// Package chatlink is the gateway's client of the link to chat-service,
// over shared/sioclient (Socket.IO v5 over Engine.IO v4 WebSocket): a Pool
// keeps one link per chat-service instance, reconnects each, and spreads
// users over them.
package chatlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/sioclient"
)

// Options configure a Pool; zero durations take defaults.
type Options struct {
	// URLs are the chat-service instances' base URLs (http or https).
	URLs []string
	// Token mints the internal token a connection attempt presents
	// (sub gateway, aud chat-service); called once per attempt, so a
	// reconnect never presents an expired token.
	Token func() (string, error)
	// Log receives connects, drops and failed attempts.
	Log zerolog.Logger
	// ConnectTimeout bounds one attempt: upgrade, open packet and the
	// namespace's answer. Default 5s.
	ConnectTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed attempts.
	// Defaults 50ms and 500ms: a restarted chat-service is found within
	// about half a second of accepting connections.
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient performs the upgrade; nil uses a plain client without
	// proxy settings.
	HTTPClient *http.Client
}

// Pool holds one link per chat-service instance. A user's commands go to
// the first live link in an order fixed by the user id (rendezvous
// hashing), so they stay ordered on one link while it is up and move,
// spread over the others, when it is not.
type Pool struct {
	opts  Options
	links []*link
	// connects counts connections established, the first ones and every
	// reconnect, for the gateway's metrics.
	connects atomic.Int64
}

// New returns a pool for opts.URLs; call Run.
func New(opts Options) (*Pool, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("chatlink: at least one chat-service URL is required")
	}
	if opts.Token == nil {
		return nil, errors.New("chatlink: a token source is required")
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(500*time.Millisecond, opts.MinBackoff)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultClient()
	}
	p := &Pool{opts: opts}
	for _, u := range opts.URLs {
		l, err := newLink(p, strings.TrimSpace(u))
		if err != nil {
			return nil, err
		}
		p.links = append(p.links, l)
	}
	return p, nil
}

// Run keeps every link connected until ctx ends, and returns when all
// their connections are closed.
func (p *Pool) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range p.links {
		wg.Go(func() { l.run(ctx) })
	}
	wg.Wait()
}

// Send emits event with arg (the link envelope's JSON) on the link that
// serves key (the acting user's id). With a reply, reply gets the ack's
// arguments, ErrTimeout after timeout, or ErrUnavailable at once when no
// link is up or the link drops with the command in flight. A nil reply
// sends without asking for an ack.
func (p *Pool) Send(key, event string, arg json.RawMessage, timeout time.Duration, reply Reply) {
	c := p.pick(key)
	if c == nil {
		if reply != nil {
			reply(nil, ErrUnavailable)
		}
		return
	}
	c.Send(event, arg, timeout, reply)
}

// pick returns the first connected link in key's order.
func (p *Pool) pick(key string) *sioclient.Client {
	if len(p.links) == 1 {
		return p.links[0].current()
	}
	var best *sioclient.Client
	var bestScore uint64
	for _, l := range p.links {
		c := l.current()
		if c == nil {
			continue
		}
		if s := score(key, l.base); best == nil || s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

// score is key's rendezvous weight for a link: the link with the highest
// weight among the live ones serves key.
func score(key, base string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(base))
	// FNV's low bits mix poorly for keys that differ only at the end; a
	// final avalanche step spreads them.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}

// Check reports whether at least one link is up (commands can flow), for
// /readyz; the error names the links that are down.
func (p *Pool) Check(context.Context) error {
	var down []string
	for _, l := range p.links {
		if l.current() == nil {
			down = append(down, l.base)
		}
	}
	if len(down) == len(p.links) {
		return fmt.Errorf("chat link is not connected (%s)", strings.Join(down, ", "))
	}
	return nil
}

// Connects returns how many connections the pool has established.
func (p *Pool) Connects() int64 { return p.connects.Load() }

// Up returns how many links are connected.
func (p *Pool) Up() int {
	n := 0
	for _, l := range p.links {
		if l.current() != nil {
			n++
		}
	}
	return n
}
