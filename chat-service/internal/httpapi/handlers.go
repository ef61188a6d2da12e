package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/jsonbody"
	"github.com/parleychat/parley/shared/problem"
)

type handlers struct{ svc *chat.Service }

// decode reads a strict JSON body into dst, writing the problem on failure.
func decode(c *gin.Context, dst any) bool {
	if err := jsonbody.Decode(c.Writer, c.Request, dst, BodyLimit); err != nil {
		fail(c, err)
		return false
	}
	return true
}

// queryInts parses integer query parameters; absent ones are 0. A
// parameter given empty ("?limit=") is refused, as the API document says:
// leave it out for the default.
func queryInts(c *gin.Context, names ...string) ([]int64, bool) {
	out := make([]int64, len(names))
	var errs []problem.FieldError
	for i, n := range names {
		raw, given := c.GetQuery(n)
		if !given {
			continue
		}
		if raw == "" {
			errs = append(errs, problem.FieldError{Field: n, Message: "must not be empty; leave it out for the default"})
			continue
		}
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			errs = append(errs, problem.FieldError{Field: n, Message: "must be an integer"})
			continue
		}
		out[i] = v
	}
	if len(errs) > 0 {
		problem.Write(c, problem.Validation(errs...))
		return nil, false
	}
	return out, true
}

type createConversationRequest struct {
	Kind    chat.Kind `json:"kind"`
	Title   string    `json:"title"`
	Members []string  `json:"members"`
}

func (h *handlers) createConversation(c *gin.Context) {
	var req createConversationRequest
	if !decode(c, &req) {
		return
	}
	conv, created, err := h.svc.CreateConversation(c.Request.Context(), userID(c), chat.NewConversation(req))
	if err != nil {
		fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, conv)
}

func (h *handlers) listConversations(c *gin.Context) {
	n, ok := queryInts(c, "limit")
	if !ok {
		return
	}
	cursor, ok := queryCursor(c)
	if !ok {
		return
	}
	page, err := h.svc.Conversations(c.Request.Context(), userID(c), cursor, int(n[0]))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

func (h *handlers) getConversation(c *gin.Context) {
	conv, err := h.svc.Conversation(c.Request.Context(), userID(c), c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, conv)
}

type renameRequest struct {
	Title string `json:"title"`
}

func (h *handlers) renameConversation(c *gin.Context) {
	var req renameRequest
	if !decode(c, &req) {
		return
	}
	conv, err := h.svc.Rename(c.Request.Context(), userID(c), c.Param("id"), req.Title)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, conv)
}

type addMembersRequest struct {
	UserIDs []string  `json:"userIds"`
	Role    chat.Role `json:"role"`
}

func (h *handlers) addMembers(c *gin.Context) {
	var req addMembersRequest
	if !decode(c, &req) {
		return
	}
	conv, err := h.svc.AddMembers(c.Request.Context(), userID(c), c.Param("id"), req.UserIDs, req.Role)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, conv)
}

func (h *handlers) removeMember(c *gin.Context) {
	if err := h.svc.RemoveMember(c.Request.Context(), userID(c), c.Param("id"), c.Param("userId")); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *handlers) listMessages(c *gin.Context) {
	n, ok := queryInts(c, "before", "after", "limit")
	if !ok {
		return
	}
	page, err := h.svc.Messages(c.Request.Context(), userID(c), c.Param("id"), n[0], n[1], int(n[2]))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

type sendRequest struct {
	ClientMsgID string `json:"clientMsgId"`
	Body        string `json:"body"`
	ReplyToID   string `json:"replyToId"`
}

func (h *handlers) sendMessage(c *gin.Context) {
	var req sendRequest
	if !decode(c, &req) {
		return
	}
	msg, created, err := h.svc.Send(c.Request.Context(), userID(c), chat.NewMessage{
		ConversationID: c.Param("id"), ClientMsgID: req.ClientMsgID, Body: req.Body, ReplyToID: req.ReplyToID})
	if err != nil {
		fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, msg)
}

type editRequest struct {
	Body string `json:"body"`
}

func (h *handlers) editMessage(c *gin.Context) {
	var req editRequest
	if !decode(c, &req) {
		return
	}
	msg, err := h.svc.Edit(c.Request.Context(), userID(c), c.Param("id"), c.Param("messageId"), req.Body)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, msg)
}

func (h *handlers) deleteMessage(c *gin.Context) {
	msg, err := h.svc.Delete(c.Request.Context(), userID(c), c.Param("id"), c.Param("messageId"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, msg)
}

func (h *handlers) react(add bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		msg, err := h.svc.React(c.Request.Context(), userID(c), c.Param("id"), c.Param("messageId"), c.Param("emoji"), add)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, msg)
	}
}

type readRequest struct {
	Seq json.RawMessage `json:"seq"`
}

func (h *handlers) markRead(c *gin.Context) {
	var req readRequest
	if !decode(c, &req) {
		return
	}
	if len(req.Seq) == 0 || string(req.Seq) == "null" {
		problem.Write(c, problem.Validation(problem.FieldError{Field: "seq", Message: "is required"}))
		return
	}
	seq, ok := wholeNumber(req.Seq)
	if !ok {
		problem.Write(c, problem.Validation(problem.FieldError{Field: "seq", Message: "must be an integer"}))
		return
	}
	r, err := h.svc.MarkRead(c.Request.Context(), userID(c), c.Param("id"), seq)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (h *handlers) search(c *gin.Context) {
	n, ok := queryInts(c, "limit")
	if !ok {
		return
	}
	cursor, ok := queryCursor(c)
	if !ok {
		return
	}
	page, err := h.svc.Search(c.Request.Context(), userID(c), c.Query("q"), cursor, int(n[0]))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// queryCursor returns the cursor query parameter ("" when absent); a cursor
// given empty ("?cursor=") is refused with the field.
func queryCursor(c *gin.Context) (string, bool) {
	raw, given := c.GetQuery("cursor")
	if given && raw == "" {
		problem.Write(c, problem.Validation(problem.FieldError{Field: "cursor", Message: "must not be empty; leave it out for the first page"}))
		return "", false
	}
	return raw, true
}
