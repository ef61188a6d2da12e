package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/shared/input"
	"github.com/parleychat/parley/shared/jsonbody"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/user-service/internal/users"
)

// requireUser refuses internal tokens that do not name a user (the
// gateway's "anonymous" subject): every user-service route is about users.
func requireUser(c *gin.Context) {
	if _, ok := input.ParseID(token.UserID(c.Request.Context())); !ok {
		writeError(c, problem.ErrUnauthorized)
		return
	}
	c.Next()
}

type handlers struct {
	svc *users.Service
}

// profileJSON is a profile on the wire.
type profileJSON struct {
	UserID      string    `json:"userId"`
	Username    string    `json:"username"`
	DisplayName string    `json:"displayName"`
	Bio         string    `json:"bio"`
	AvatarURL   *string   `json:"avatarUrl"` // null when none
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func toJSON(p users.Profile) profileJSON {
	out := profileJSON{
		UserID: p.UserID, Username: p.Username, DisplayName: p.DisplayName, Bio: p.Bio,
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	}
	if p.AvatarURL != "" {
		out.AvatarURL = &p.AvatarURL
	}
	return out
}

// updateJSON is the PATCH /users/me body: absent fields stay unchanged; ""
// clears bio or avatarUrl.
type updateJSON struct {
	DisplayName *string `json:"displayName"`
	Bio         *string `json:"bio"`
	AvatarURL   *string `json:"avatarUrl"`
}

type pageJSON struct {
	Users      []profileJSON `json:"users"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

func (h *handlers) me(c *gin.Context) {
	p, err := h.svc.Me(c.Request.Context(), token.UserID(c.Request.Context()))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toJSON(p))
}

func (h *handlers) updateMe(c *gin.Context) {
	ctx := c.Request.Context()
	// Decoded through a pointer so a body of JSON null (which would leave
	// a struct untouched, an update of nothing) is told from {}.
	var body *updateJSON
	if err := jsonbody.Decode(c.Writer, c.Request, &body, maxBody); err != nil {
		writeError(c, err)
		return
	}
	if body == nil {
		writeError(c, problem.Validation(problem.FieldError{Field: "body", Message: "must be a JSON object"}))
		return
	}
	p, err := h.svc.UpdateMe(ctx, token.UserID(ctx), users.Update{
		DisplayName: body.DisplayName, Bio: body.Bio, AvatarURL: body.AvatarURL,
	})
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toJSON(p))
}

// get takes the id in its canonical form (upper case is folded; "urn:uuid:",
// braces and the 32-digit form are no profile's id).
func (h *handlers) get(c *gin.Context) {
	id, ok := input.ParseID(c.Param("id"))
	if !ok {
		writeError(c, users.ErrNotFound)
		return
	}
	p, err := h.svc.Get(c.Request.Context(), id)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toJSON(p))
}

func (h *handlers) search(c *gin.Context) {
	limit := 0
	if s, given := c.GetQuery("limit"); given {
		if s == "" {
			writeError(c, problem.Validation(problem.FieldError{Field: "limit", Message: "must not be empty; leave it out for the default"}))
			return
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			writeError(c, problem.Validation(problem.FieldError{Field: "limit", Message: "must be an integer between 1 and 100"}))
			return
		}
		if n == 0 {
			n = -1 // an explicit 0 is out of range, not "the default"
		}
		limit = n
	}
	query, cursor := c.Query("query"), c.Query("cursor")
	if raw, given := c.GetQuery("cursor"); given && raw == "" {
		writeError(c, problem.Validation(problem.FieldError{Field: "cursor", Message: "must not be empty; leave it out for the first page"}))
		return
	}
	var bad []problem.FieldError
	for _, f := range []struct{ name, value string }{{"query", query}, {"cursor", cursor}} {
		if msg := input.Text(f.value); msg != "" {
			bad = append(bad, problem.FieldError{Field: f.name, Message: msg})
		}
	}
	if len(bad) > 0 {
		writeError(c, problem.Validation(bad...))
		return
	}
	page, err := h.svc.Search(c.Request.Context(), query, limit, cursor)
	if err != nil {
		writeError(c, err)
		return
	}
	out := pageJSON{Users: make([]profileJSON, len(page.Profiles)), NextCursor: page.NextCursor}
	for i, p := range page.Profiles {
		out.Users[i] = toJSON(p)
	}
	c.JSON(http.StatusOK, out)
}
