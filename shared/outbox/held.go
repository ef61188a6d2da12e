package outbox

import (
	"time"

	"github.com/parleychat/parley/shared/logging"
)

// returned handles a row the broker returned as unroutable despite the
// alternate exchange: it stays unpublished and, unless too many rows are
// held already, is held back for ReturnedRetry so the rows after it keep
// flowing. It reports whether the row was held; if not, the caller treats
// the return as a failed publish (the relay backs off, then retries).
func (r *Relay) returned(x row, err error) bool {
	r.unroutable.Add(1)
	held := len(r.held) < maxHeld
	if held {
		r.held[x.seq] = time.Now().Add(r.opts.ReturnedRetry)
		r.heldCount.Store(int64(len(r.held)))
	}
	logging.ErrorFields(r.log.Error(), err).Str("event.id", x.id).Str("event.action", x.routingKey).
		Str("rabbitmq.exchange", x.exchange).Str("trace.id", traceID(x.payload)).
		Dur("retry_in", r.opts.ReturnedRetry).Bool("held", held).
		Msg("outbox relay: the broker returned this event as unroutable, so its exchange has no working " +
			"alternate exchange (see infra/rabbitmq/topology.md); kept unpublished and will retry")
	return held
}

// stillHeld forgets the rows whose hold has ended and returns the seqs of
// the others, which the next read skips.
func (r *Relay) stillHeld(now time.Time) []int64 {
	seqs := make([]int64, 0, len(r.held))
	for seq, until := range r.held {
		if now.Before(until) {
			seqs = append(seqs, seq)
		} else {
			delete(r.held, seq)
		}
	}
	r.heldCount.Store(int64(len(r.held)))
	return seqs
}
