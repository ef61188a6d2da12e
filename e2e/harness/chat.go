package harness

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/problem"
)

// Message is a message as clients receive it (chat-service's README).
type Message struct {
	ID             string     `json:"id"`
	ConversationID string     `json:"conversationId"`
	Seq            int64      `json:"seq"`
	EventSeq       int64      `json:"eventSeq"`
	SenderID       string     `json:"senderId"`
	ClientMsgID    string     `json:"clientMsgId"`
	Body           string     `json:"body"`
	ReplyToID      *string    `json:"replyToId,omitempty"`
	Deleted        bool       `json:"deleted"`
	Reactions      []Reaction `json:"reactions"`
}

// Reaction aggregates one emoji on a message.
type Reaction struct {
	Emoji   string   `json:"emoji"`
	Count   int      `json:"count"`
	UserIDs []string `json:"userIds"`
}

// Conversation is a conversation as clients receive it.
type Conversation struct {
	ID           string   `json:"id"`
	Kind         string   `json:"kind"`
	Title        string   `json:"title"`
	LastSeq      int64    `json:"lastSeq"`
	LastEventSeq int64    `json:"lastEventSeq"`
	Members      []Member `json:"members"`
}

// Member is one member of a conversation.
type Member struct {
	UserID      string `json:"userId"`
	Role        string `json:"role"`
	LastReadSeq int64  `json:"lastReadSeq"`
}

// SyncEvent is one missed change in a sync answer.
type SyncEvent struct {
	Type           string          `json:"type"`
	ConversationID string          `json:"conversationId"`
	EventSeq       int64           `json:"eventSeq"`
	Payload        json.RawMessage `json:"payload"`
}

// Gap is a range of a conversation's events a sync could not replay.
type Gap struct {
	ConversationID string `json:"conversationId"`
	FromEventSeq   int64  `json:"fromEventSeq"`
	ToEventSeq     int64  `json:"toEventSeq"`
}

// Problem decodes the response as problem+json.
func (r *Response) Problem(t testing.TB) problem.Problem {
	t.Helper()
	var p problem.Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", r.Body, err)
	}
	return p
}

// CreateGroup creates a group titled title with the given other members
// and returns it. chat-service learns users from auth.user.registered.v1
// and waits only 2 s for one it does not know yet, so a refusal naming an
// unknown member is retried for a while.
func (c *Client) CreateGroup(title string, members ...string) Conversation {
	c.t.Helper()
	return c.createConversation(map[string]any{"kind": "group", "title": title, "members": members})
}

// CreateDirect opens (or finds) the direct conversation with other.
func (c *Client) CreateDirect(other string) Conversation {
	c.t.Helper()
	return c.createConversation(map[string]any{"kind": "direct", "members": []string{other}})
}

func (c *Client) createConversation(body map[string]any) Conversation {
	c.t.Helper()
	var conv Conversation
	Eventually(c.t, 20*time.Second, "create conversation", func() error {
		r, err := c.DoErr(http.MethodPost, "/api/v1/conversations", body)
		switch {
		case err != nil:
			return err
		case r.Status == http.StatusCreated || r.Status == http.StatusOK:
			return json.Unmarshal(r.Body, &conv)
		case r.Status == http.StatusBadRequest:
			return fmt.Errorf("refused (members not known yet?): %s", r.Body)
		}
		c.t.Fatalf("create conversation %v: status %d %s", body, r.Status, r.Body)
		return nil
	})
	return conv
}

// Conversation fetches one conversation.
func (c *Client) Conversation(id string) Conversation {
	c.t.Helper()
	var conv Conversation
	c.Do(http.MethodGet, "/api/v1/conversations/"+id, nil).Expect(c.t, http.StatusOK, "get conversation").JSON(c.t, &conv)
	return conv
}

// Messages lists a conversation's messages after seq after (at most 100).
func (c *Client) Messages(convID string, after int64) []Message {
	c.t.Helper()
	var page struct {
		Messages []Message `json:"messages"`
	}
	c.Do(http.MethodGet, fmt.Sprintf("/api/v1/conversations/%s/messages?after=%d&limit=100", convID, after), nil).
		Expect(c.t, http.StatusOK, "list messages").JSON(c.t, &page)
	return page.Messages
}
