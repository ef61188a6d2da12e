package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/parleychat/parley/shared/events"
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
// each listed conversation:
//   - a conversation they belong to: every later event, up to SyncEventCap
//     (the rest is a gap to sync again from);
//   - one they were removed from: the events up to and including their
//     removal, never after;
//   - one they never belonged to (or a malformed id): nothing, so sync
//     cannot probe for conversations;
//   - one they belong to but did not list (joined while away): a gap over
//     its whole log, telling the client to fetch it.
//
// One answer carries at most SyncTotalCap events; conversations past that
// budget (in id order) are returned as gaps to sync again.
func (s *Service) Sync(ctx context.Context, userID string, lastSeen map[string]int64) (SyncResult, error) {
	if len(lastSeen) > MaxSyncConversations {
		return SyncResult{}, Invalid(FieldError{Field: "conversations", Message: "at most 1000 conversations per sync"})
	}
	listed := make(map[string]int64, len(lastSeen))
	var f fields
	for raw, seq := range lastSeen {
		if seq < 0 {
			f.add("conversations."+raw, "must not be negative")
		}
		if id, ok := ParseID(raw); ok {
			listed[id] = seq
		}
	}
	if err := f.err(); err != nil {
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
	var ranges []EventRange
	budget := int64(s.cfg.SyncTotalCap)
	for _, st := range states {
		last, wasListed := listed[st.ConversationID]
		upper := st.LastEventSeq
		if !st.Active {
			upper = st.RemovedEventSeq
		}
		switch {
		case !wasListed:
			if st.Active && upper > 0 {
				res.Gaps = append(res.Gaps, Gap{ConversationID: st.ConversationID, FromEventSeq: 1, ToEventSeq: upper})
			}
			continue
		case last >= upper:
			continue
		}
		from := last + 1
		if from <= st.PrunedEventSeq {
			res.Gaps = append(res.Gaps, Gap{ConversationID: st.ConversationID, FromEventSeq: from, ToEventSeq: min(st.PrunedEventSeq, upper)})
			from = st.PrunedEventSeq + 1
		}
		if from > upper {
			continue
		}
		// The answer is one ack: bound it overall too, not only per
		// conversation. Past the budget a conversation is all gap.
		n := min(int64(s.cfg.SyncEventCap), upper-from+1, budget)
		if n == 0 {
			res.Gaps = append(res.Gaps, Gap{ConversationID: st.ConversationID, FromEventSeq: from, ToEventSeq: upper})
			continue
		}
		budget -= n
		ranges = append(ranges, EventRange{ConversationID: st.ConversationID, From: from, To: upper, Limit: int(n)})
	}
	if len(ranges) == 0 {
		return res, nil
	}
	evs, err := s.store.EventRanges(ctx, ranges)
	if err != nil {
		return SyncResult{}, err
	}
	// next is the eventSeq expected next per range; a jump means rows were
	// pruned after SyncStates read the bounds, and the client must not
	// assume it has them.
	next := make(map[string]int64, len(ranges))
	for _, r := range ranges {
		next[r.ConversationID] = r.From
	}
	for _, ev := range evs {
		name, ok := events.SocketEvent(ev.Type)
		if !ok {
			return SyncResult{}, fmt.Errorf("chat: sync: event type %q has no socket event", ev.Type)
		}
		if want := next[ev.ConversationID]; ev.EventSeq > want {
			res.Gaps = append(res.Gaps, Gap{ConversationID: ev.ConversationID, FromEventSeq: want, ToEventSeq: ev.EventSeq - 1})
		}
		res.Events = append(res.Events, SyncEvent{Type: name, ConversationID: ev.ConversationID, EventSeq: ev.EventSeq, Payload: ev.Payload})
		next[ev.ConversationID] = ev.EventSeq + 1
	}
	for _, r := range ranges {
		if n := next[r.ConversationID]; n <= r.To {
			// Capped (or the tail vanished): sync again from n-1 or refetch.
			res.Gaps = append(res.Gaps, Gap{ConversationID: r.ConversationID, FromEventSeq: n, ToEventSeq: r.To})
		}
	}
	return res, nil
}
