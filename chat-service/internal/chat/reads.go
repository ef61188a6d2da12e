package chat

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/parleychat/parley/shared/input"
)

// MessagePage is one page of a conversation's messages in seq order.
type MessagePage struct {
	Messages []Message `json:"messages"`
	// HasMore says more messages exist beyond the page in the direction
	// asked (older for before or no bound, newer for after).
	HasMore bool `json:"hasMore"`
}

// SearchPage is one page of search results, newest first.
type SearchPage struct {
	Messages   []Message `json:"messages"`
	NextCursor string    `json:"nextCursor,omitempty"`
}

// Messages lists a conversation's messages: the newest page when neither
// bound is given, those before seq `before`, those after seq `after`, or,
// with both, the oldest page of those strictly between them.
func (s *Service) Messages(ctx context.Context, userID, convID string, before, after int64, limit int) (MessagePage, error) {
	cid, ok := input.ParseID(convID)
	if !ok {
		return MessagePage{}, ErrNotFound
	}
	var f fields
	limit = pageLimit(&f, limit)
	if before < 0 {
		f.add("before", "must not be negative")
	}
	if after < 0 {
		f.add("after", "must not be negative")
	}
	if err := f.err(); err != nil {
		return MessagePage{}, err
	}
	if _, err := s.store.Member(ctx, cid, userID); err != nil {
		return MessagePage{}, err
	}
	list, err := s.store.Messages(ctx, cid, MessageQuery{Before: before, After: after, Limit: limit + 1})
	if err != nil {
		return MessagePage{}, err
	}
	page := MessagePage{Messages: list}
	if len(list) > limit {
		page.HasMore = true
		if after > 0 {
			page.Messages = list[:limit]
		} else {
			page.Messages = list[1:] // the extra one is the oldest
		}
	}
	if page.Messages == nil {
		page.Messages = []Message{}
	}
	return page, nil
}

// Search finds the caller's visible messages matching q (PostgreSQL
// full-text, "simple" configuration, web-search syntax), newest first.
// Only conversations the caller currently belongs to are searched.
func (s *Service) Search(ctx context.Context, userID, q, cursor string, limit int) (SearchPage, error) {
	var f fields
	limit = pageLimit(&f, limit)
	q = strings.TrimSpace(q)
	if checkText(&f, "q", q) {
		switch n := utf8.RuneCountInString(q); {
		case n == 0:
			f.add("q", "is required")
		case n > MaxSearchQueryChars:
			f.add("q", "must be at most 200 characters")
		}
	}
	if cursor != "" {
		id, ok := input.ParseID(cursor)
		if !ok {
			f.add("cursor", "is not a cursor this service issued")
		}
		cursor = id
	}
	if err := f.err(); err != nil {
		return SearchPage{}, err
	}
	list, err := s.store.Search(ctx, userID, q, cursor, limit+1)
	if err != nil {
		return SearchPage{}, err
	}
	page := SearchPage{Messages: list}
	if len(list) > limit {
		page.Messages = list[:limit]
		page.NextCursor = list[limit-1].ID
	}
	if page.Messages == nil {
		page.Messages = []Message{}
	}
	return page, nil
}
