package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/parleychat/parley/shared/input"
)

// MaxSyncConversations bounds how many conversations one sync may list.
const MaxSyncConversations = 1000

// SyncEvent is one missed change as a client receives it: the Socket.IO
// event name it would have got live, and the same payload.
type SyncEvent struct {
	Type           string          `json:"type"`
	ConversationID string          `json:"conversationId"`
	EventSeq       int64           `json:"eventSeq"`
	Payload        json.RawMessage `json:"payload"`
}

// Gap tells the client that events FromEventSeq..ToEventSeq of a
// conversation cannot be replayed (more than the cap, pruned from the log,
// or a conversation the client did not list): it should refetch the
// conversation and its messages over REST, or sync again from the last
// event it got.
type Gap struct {
	ConversationID string `json:"conversationId"`
	FromEventSeq   int64  `json:"fromEventSeq"`
	ToEventSeq     int64  `json:"toEventSeq"`
}

// SyncResult answers a sync: the missed events, per conversation in
// eventSeq order, and the gaps.
type SyncResult struct {
	Events []SyncEvent `json:"events"`
	Gaps   []Gap       `json:"gaps,omitempty"`
}

// Sync returns what the caller missed after the last eventSeq they saw in
// each listed conversation, limited to their membership periods: nothing
// logged before they joined or after they left, and a re-added member only
// their own periods.
//   - a conversation they belong to: every later event of their periods, up
//     to SyncEventCap (the rest is a gap to sync again from);
//   - one they were removed from: the events up to and including their
//     removal, never after;
//   - one they never belonged to (or a malformed id): nothing, so sync
//     cannot probe for conversations;
//   - one they belong to but did not list (joined while away): a gap over
//     their periods, telling the client to fetch it.
//
// Events carry the current state, never the payload as it was sent: a
// message as REST history shows it now (a tombstone once deleted, the
// current body once edited), so sync cannot reveal what REST hides (see
// render).
//
// One answer carries at most SyncTotalCap events; conversations past that
// budget (in id order) are returned as gaps to sync again.
func (s *Service) Sync(ctx context.Context, userID string, lastSeen map[string]int64) (SyncResult, error) {
	listed, err := checkSync(lastSeen)
	if err != nil {
		return SyncResult{}, err
	}
	ids := make([]string, 0, len(listed))
	for id := range listed {
		ids = append(ids, id)
	}
	states, err := s.store.SyncStates(ctx, userID, ids)
	if err != nil {
		return SyncResult{}, err
	}
	slices.SortFunc(states, func(a, b SyncState) int { return strings.Compare(a.ConversationID, b.ConversationID) })

	res := SyncResult{Events: []SyncEvent{}}
	plan := s.plan(states, listed, &res)
	if len(plan) == 0 {
		return res, nil
	}
	ranges := make([]EventRange, len(plan))
	for i, p := range plan {
		ranges[i] = p.EventRange
	}
	evs, err := s.store.EventRanges(ctx, ranges)
	if err != nil {
		return SyncResult{}, err
	}
	r, err := s.newRenderer(ctx, evs)
	if err != nil {
		return SyncResult{}, err
	}
	// next is the eventSeq expected next per range; a jump means rows were
	// pruned after SyncStates read the bounds, and the client must not
	// assume it has them.
	next := make([]int64, len(plan))
	byConversation := make(map[string][]int, len(plan))
	for i, p := range plan {
		next[i] = p.From
		byConversation[p.ConversationID] = append(byConversation[p.ConversationID], i)
	}
	for _, ev := range evs {
		i := rangeOf(plan, byConversation[ev.ConversationID], ev.EventSeq)
		if i < 0 {
			return SyncResult{}, fmt.Errorf("chat: sync: event %d of %s outside every range asked", ev.EventSeq, ev.ConversationID)
		}
		if want := next[i]; ev.EventSeq > want {
			res.Gaps = append(res.Gaps, Gap{ConversationID: ev.ConversationID, FromEventSeq: want, ToEventSeq: ev.EventSeq - 1})
		}
		next[i] = ev.EventSeq + 1
		out, keep, err := r.render(ev, plan[i])
		if err != nil {
			return SyncResult{}, err
		}
		if keep {
			res.Events = append(res.Events, out)
		}
	}
	for i, p := range plan {
		if n := next[i]; n <= p.To {
			// Capped (or the tail vanished): sync again from n-1 or refetch.
			res.Gaps = append(res.Gaps, Gap{ConversationID: p.ConversationID, FromEventSeq: n, ToEventSeq: p.To})
		}
	}
	return res, nil
}

// checkSync validates the client's map of last seen eventSeqs and returns
// it keyed by canonical conversation id. Malformed ids are dropped, not
// refused, so that sync cannot tell a malformed id from a foreign one.
func checkSync(lastSeen map[string]int64) (map[string]int64, error) {
	if len(lastSeen) > MaxSyncConversations {
		return nil, Invalid(FieldError{Field: "conversations", Message: "at most 1000 conversations per sync"})
	}
	listed := make(map[string]int64, len(lastSeen))
	var f fields
	for raw, seq := range lastSeen {
		if seq < 0 {
			f.add("conversations."+raw, "must not be negative")
		}
		if id, ok := input.ParseID(raw); ok {
			listed[id] = seq
		}
	}
	return listed, f.err()
}

// span is one range of events to read, inside one membership period.
type span struct {
	EventRange
	// active is true when the caller is a member now; closed periods of a
	// former member render message state only up to the period's end.
	active bool
}

// plan turns the caller's periods into the ranges to read, adding the gaps
// (pruned log, caps, unlisted conversations) to res.
func (s *Service) plan(states []SyncState, listed map[string]int64, res *SyncResult) []span {
	var out []span
	budget := int64(s.cfg.SyncTotalCap)
	for _, st := range states {
		last, wasListed := listed[st.ConversationID]
		if !wasListed {
			if st.Active && len(st.Periods) > 0 && st.Periods[0].From <= st.LastEventSeq {
				res.Gaps = append(res.Gaps, Gap{ConversationID: st.ConversationID, FromEventSeq: st.Periods[0].From, ToEventSeq: st.LastEventSeq})
			}
			continue
		}
		perConversation := int64(s.cfg.SyncEventCap)
		gap := func(from, to int64) {
			res.Gaps = append(res.Gaps, Gap{ConversationID: st.ConversationID, FromEventSeq: from, ToEventSeq: to})
		}
		for _, p := range st.Periods {
			from, to := max(last+1, p.From), p.To
			if to == 0 {
				to = st.LastEventSeq
			}
			if from > to {
				continue
			}
			if from <= st.PrunedEventSeq {
				gap(from, min(st.PrunedEventSeq, to))
				from = st.PrunedEventSeq + 1
			}
			if from > to {
				continue
			}
			// The answer is one ack: bound it overall too, not only per
			// conversation. Past the budget a range is all gap.
			n := min(perConversation, to-from+1, budget)
			if n == 0 {
				gap(from, to)
				continue
			}
			perConversation -= n
			budget -= n
			out = append(out, span{EventRange: EventRange{ConversationID: st.ConversationID, From: from, To: to, Limit: int(n)}, active: st.Active})
		}
	}
	return out
}

// rangeOf returns which of the spans at indexes holds eventSeq, or -1.
func rangeOf(plan []span, indexes []int, eventSeq int64) int {
	for _, i := range indexes {
		if eventSeq >= plan[i].From && eventSeq <= plan[i].To {
			return i
		}
	}
	return -1
}
