package httpapi

import (
	"time"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

// userJSON is a user as the API shows it.
type userJSON struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"createdAt"`
}

func toUser(u auth.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, Email: u.Email, CreatedAt: u.CreatedAt.UTC()}
}

// grantJSON is the answer to signup, login, refresh and password change.
// It goes to the gateway only: the gateway moves "tokens" into cookies and
// strips it before the client sees the body.
type grantJSON struct {
	User    userJSON `json:"user"`
	Session struct {
		ID        string    `json:"id"`
		ExpiresAt time.Time `json:"expiresAt"`
	} `json:"session"`
	Tokens struct {
		AccessToken      string    `json:"accessToken"`
		AccessExpiresAt  time.Time `json:"accessExpiresAt"`
		RefreshToken     string    `json:"refreshToken"`
		RefreshExpiresAt time.Time `json:"refreshExpiresAt"`
	} `json:"tokens"`
}

func toGrant(g auth.Grant) grantJSON {
	var out grantJSON
	out.User = toUser(g.User)
	out.Session.ID, out.Session.ExpiresAt = g.Session.ID, g.Session.ExpiresAt.UTC()
	out.Tokens.AccessToken, out.Tokens.AccessExpiresAt = g.AccessToken, g.AccessExpiresAt.UTC()
	out.Tokens.RefreshToken, out.Tokens.RefreshExpiresAt = g.RefreshToken, g.RefreshExpiresAt.UTC()
	return out
}

// sessionJSON is one entry of GET /auth/sessions.
type sessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	UserAgent  string    `json:"userAgent"`
	IP         string    `json:"ip"`
	Current    bool      `json:"current"`
}

// revocationsJSON is the snapshot at GET /internal/revocations; its shape
// is what the gateway's revocation loader decodes.
type revocationsJSON struct {
	Sessions        []revokedSessionJSON `json:"sessions"`
	PasswordChanges []passwordChangeJSON `json:"passwordChanges"`
	GeneratedAt     time.Time            `json:"generatedAt"`
}

type revokedSessionJSON struct {
	SessionID    string    `json:"sessionId"`
	UserID       string    `json:"userId"`
	Reason       string    `json:"reason"`
	RevokedUntil time.Time `json:"revokedUntil"`
}

type passwordChangeJSON struct {
	UserID       string    `json:"userId"`
	ChangedAt    time.Time `json:"changedAt"`
	RevokedUntil time.Time `json:"revokedUntil"`
}

func toRevocations(r auth.Revocations) revocationsJSON {
	out := revocationsJSON{
		Sessions:        make([]revokedSessionJSON, 0, len(r.Sessions)),
		PasswordChanges: make([]passwordChangeJSON, 0, len(r.PasswordChanges)),
		GeneratedAt:     r.GeneratedAt.UTC(),
	}
	for _, s := range r.Sessions {
		for _, id := range s.SessionIDs {
			out.Sessions = append(out.Sessions, revokedSessionJSON{
				SessionID: id, UserID: s.UserID, Reason: s.Reason, RevokedUntil: s.RevokedUntil.UTC(),
			})
		}
	}
	for _, p := range r.PasswordChanges {
		out.PasswordChanges = append(out.PasswordChanges, passwordChangeJSON{
			UserID: p.UserID, ChangedAt: p.ChangedAt.UTC(), RevokedUntil: p.RevokedUntil.UTC(),
		})
	}
	return out
}
