package rabbit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/trace"
)

// Errors a publish can end with besides connection and context errors.
var (
	// ErrUnroutable means the broker returned the message (mandatory
	// routing): no queue was bound for it and the exchange has no working
	// alternate exchange, so nobody received it. On an OutboxExchanges
	// exchange, whose alternate exchange takes everything unbound, it means
	// the broker's topology is wrong.
	ErrUnroutable = errors.New("rabbit: message unroutable")
	// ErrNacked means the broker refused responsibility for the message,
	// or the channel closed before it confirmed; publishing again is safe.
	ErrNacked = errors.New("rabbit: publish not confirmed")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("rabbit: publisher closed")
)

// ContentType is the content type of every Parley event.
const ContentType = "application/json"

// Message is one AMQP message to publish.
type Message struct {
	Exchange   string
	RoutingKey string
	Body       []byte
	// ID becomes the AMQP message_id: the event id.
	ID string
	// Traceparent, when set, travels in the traceparent header.
	Traceparent string
	// Headers are extra AMQP headers.
	Headers amqp.Table
	// Expiration is a per-message TTL; zero means none.
	Expiration time.Duration
}

// PublisherStats are the publisher's counters since start.
type PublisherStats struct {
	Confirmed  uint64 `json:"confirmed"`
	Failed     uint64 `json:"failed"`
	Unroutable uint64 `json:"unroutable"`
}

// Publisher publishes persistent, mandatory messages and waits for the
// broker's confirm. It reconnects by itself; while the broker is away,
// Publish waits (up to the confirm timeout or ctx) for it to return.
type Publisher struct {
	url            string
	cfg            amqp.Config
	log            zerolog.Logger
	confirmTimeout time.Duration
	reconnectBase  time.Duration
	topo           *topology

	mu        sync.Mutex
	session   *pubSession
	changed   chan struct{} // closed and replaced whenever session changes
	exchanges []string
	closed    bool

	done chan struct{}
	wg   sync.WaitGroup

	confirmed, failed, unroutable atomic.Uint64
}

func newPublisher(url string, cfg amqp.Config, log zerolog.Logger, o options, topo *topology) *Publisher {
	p := &Publisher{
		url: url, cfg: cfg, log: log, topo: topo,
		confirmTimeout: o.confirmTimeout,
		reconnectBase:  o.reconnectBase,
		changed:        make(chan struct{}),
		done:           make(chan struct{}),
	}
	p.wg.Add(1)
	go p.run()
	return p
}

// Publish publishes body to exchange with routingKey as a persistent JSON
// message with message_id id and the traceparent header, and returns once
// the broker confirmed it. A nack, a timeout, a lost connection or an
// unroutable message (ErrUnroutable) is an error.
func (p *Publisher) Publish(ctx context.Context, exchange, routingKey string, body []byte, id, traceparent string) error {
	return p.PublishBatch(ctx, []Message{{
		Exchange: exchange, RoutingKey: routingKey, Body: body, ID: id, Traceparent: traceparent,
	}})[0]
}

// PublishBatch publishes msgs in order on one channel without waiting in
// between, then waits for every confirm: the pipelined form of Publish. It
// returns one error (or nil) per message, in order.
func (p *Publisher) PublishBatch(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	if len(msgs) == 0 {
		return errs
	}
	ctx, cancel := context.WithTimeout(ctx, p.confirmTimeout)
	defer cancel()
	var s *pubSession
	var pending []*amqp.DeferredConfirmation
	for {
		var err error
		s, err = p.await(ctx)
		if err != nil {
			for i := range errs {
				errs[i] = err
			}
			p.failed.Add(uint64(len(msgs)))
			return errs
		}
		var retry bool
		pending, retry = s.publish(ctx, msgs, errs)
		if !retry {
			break
		}
		// The channel closed before anything was sent on it (the broker
		// closed it, and run has not noticed yet): wait for the next one.
		p.invalidate(s)
	}
	for i, dc := range pending {
		if dc == nil {
			continue
		}
		select {
		case <-dc.Done():
			if !dc.Acked() {
				errs[i] = fmt.Errorf("%w: %s %s", ErrNacked, msgs[i].RoutingKey, msgs[i].ID)
			}
		case <-ctx.Done():
			errs[i] = fmt.Errorf("rabbit: publish %s: no confirm: %w", msgs[i].RoutingKey, ctx.Err())
		}
	}
	s.drainReturns()
	for i, m := range msgs {
		if errs[i] != nil {
			p.failed.Add(1)
			continue
		}
		if ret, ok := s.takeReturned(m.ID); ok {
			errs[i] = fmt.Errorf("%w: %s to %q: %s", ErrUnroutable, m.RoutingKey, m.Exchange, ret.ReplyText)
			p.unroutable.Add(1)
			continue
		}
		p.confirmed.Add(1)
	}
	return errs
}

func publishing(ctx context.Context, m Message) amqp.Publishing {
	headers := amqp.Table{}
	for k, v := range m.Headers {
		headers[k] = v
	}
	if m.Traceparent != "" {
		headers[trace.Header] = m.Traceparent
	} else if tc, ok := trace.From(ctx); ok {
		headers[trace.Header] = tc.String()
	}
	pub := amqp.Publishing{
		ContentType:  ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    m.ID,
		Timestamp:    time.Now().UTC(),
		Headers:      headers,
		Body:         m.Body,
	}
	if m.Expiration > 0 {
		pub.Expiration = strconv.FormatInt(max(m.Expiration.Milliseconds(), 1), 10)
	}
	return pub
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{Confirmed: p.confirmed.Load(), Failed: p.failed.Load(), Unroutable: p.unroutable.Load()}
}

// Close stops reconnecting and closes the connection; publishes in flight
// fail.
func (p *Publisher) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	p.wg.Wait()
}

// await returns the current session, waiting for a reconnect if needed.
func (p *Publisher) await(ctx context.Context) (*pubSession, error) {
	for {
		p.mu.Lock()
		s, changed, closed := p.session, p.changed, p.closed
		p.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case s != nil && (s.ch.IsClosed() || s.conn.IsClosed()):
			// run will notice and reconnect; do not hand out a dead channel.
			p.invalidate(s)
			continue
		case s != nil:
			return s, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("rabbit: not connected to the broker: %w", ctx.Err())
		}
	}
}

func (p *Publisher) waitConnected(ctx context.Context) error {
	_, err := p.await(ctx)
	return err
}

// invalidate forgets s if it is still current, so await waits for run to
// reconnect.
func (p *Publisher) invalidate(s *pubSession) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.session == s {
		p.session = nil
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

func (p *Publisher) setSession(s *pubSession) {
	p.mu.Lock()
	p.session = s
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// run keeps one session open until Close.
func (p *Publisher) run() {
	defer p.wg.Done()
	for attempt := 0; ; {
		s, connClosed, chClosed, err := p.connect()
		if err != nil {
			delay := backoff(p.reconnectBase, attempt)
			attempt++
			p.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", delay).
				Msg("rabbitmq: publisher connection failed; retrying")
			select {
			case <-p.done:
				return
			case <-time.After(delay):
			}
			continue
		}
		if attempt > 0 {
			p.log.Info().Int("attempts", attempt).Msg("rabbitmq: publisher reconnected")
		}
		attempt = 0
		p.setSession(s)
		select {
		case <-p.done:
			p.setSession(nil)
			_ = s.conn.Close()
			return
		case e := <-connClosed:
			p.log.Warn().Str("error.message", fmt.Sprint(e)).Msg("rabbitmq: publisher connection lost; reconnecting")
		case e := <-chClosed:
			p.log.Warn().Str("error.message", fmt.Sprint(e)).Msg("rabbitmq: publisher channel closed; reconnecting")
		}
		p.setSession(nil)
		_ = s.conn.Close()
	}
}

func (p *Publisher) connect() (*pubSession, chan *amqp.Error, chan *amqp.Error, error) {
	conn, err := amqp.DialConfig(p.url, p.cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	fail := func(err error) (*pubSession, chan *amqp.Error, chan *amqp.Error, error) {
		_ = conn.Close()
		return nil, nil, nil, err
	}
	p.mu.Lock()
	exchanges := append([]string(nil), p.exchanges...)
	p.mu.Unlock()
	if err := p.topo.declareExchanges(conn, exchanges); err != nil {
		return fail(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		return fail(err)
	}
	if err := ch.Confirm(false); err != nil {
		return fail(fmt.Errorf("confirm mode: %w", err))
	}
	s := &pubSession{conn: conn, ch: ch, returned: map[string]amqp.Return{}}
	s.returns = ch.NotifyReturn(make(chan amqp.Return, returnBuffer))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	return s, connClosed, chClosed, nil
}

// declareExchanges remembers names for every future reconnect and declares
// them now.
func (p *Publisher) declareExchanges(ctx context.Context, names ...string) error {
	p.mu.Lock()
	for _, n := range names {
		known := false
		for _, e := range p.exchanges {
			known = known || e == n
		}
		if !known {
			p.exchanges = append(p.exchanges, n)
		}
	}
	p.mu.Unlock()
	s, err := p.await(ctx)
	if err != nil {
		return err
	}
	return p.topo.declareExchanges(s.conn, names)
}

// check opens and closes a channel: a real round trip to the broker.
func (p *Publisher) check(ctx context.Context) error {
	p.mu.Lock()
	s := p.session
	p.mu.Unlock()
	if s == nil {
		return errors.New("rabbit: publisher not connected")
	}
	done := make(chan error, 1)
	go func() {
		ch, err := s.conn.Channel()
		if err == nil {
			err = ch.Close()
		}
		done <- err
	}()
	select {
	case <-ctx.Done():
		return fmt.Errorf("rabbit: broker did not answer: %w", ctx.Err())
	case err := <-done:
		if err != nil {
			return fmt.Errorf("rabbit: broker: %w", err)
		}
		return nil
	}
}
