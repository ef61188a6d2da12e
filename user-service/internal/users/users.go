// Package users is user-service's domain: public profiles, created when
// auth-service announces a new account and edited by their owner, and the
// directory search. It knows nothing of HTTP, SQL or AMQP.
package users

import (
	"context"
	"errors"
	"time"
)

// ServiceName is user-service's one name: the source of every event it
// publishes, its logs' service.name, its broker connection name and its
// default consumer (queue) name.
const ServiceName = "user-service"

// Profile is a user's public profile.
type Profile struct {
	UserID      string
	Username    string
	DisplayName string
	Bio         string
	AvatarURL   string // "" when none
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewProfile is what a registration event says about a new account.
type NewProfile struct {
	UserID    string
	Username  string
	CreatedAt time.Time
}

// Update is a partial profile change: nil fields stay as they are, an empty
// Bio or AvatarURL clears it.
type Update struct {
	DisplayName *string
	Bio         *string
	AvatarURL   *string
}

// Empty reports whether u changes nothing.
func (u Update) Empty() bool { return u.DisplayName == nil && u.Bio == nil && u.AvatarURL == nil }

// Apply returns p with u applied.
func (u Update) Apply(p Profile) Profile {
	if u.DisplayName != nil {
		p.DisplayName = *u.DisplayName
	}
	if u.Bio != nil {
		p.Bio = *u.Bio
	}
	if u.AvatarURL != nil {
		p.AvatarURL = *u.AvatarURL
	}
	return p
}

// SearchQuery asks for one page of profiles whose username or display name
// starts with Prefix (case-insensitively), in username order, after After.
type SearchQuery struct {
	Prefix string // lowercased; "" matches everyone
	Limit  int
	After  *Position
}

// Position is where a page of search results ends: the lowercased username
// and id of its last profile.
type Position struct {
	Key    string
	UserID string
}

// Page is one page of search results.
type Page struct {
	Profiles   []Profile
	NextCursor string // "" on the last page
}

// Store is the persistence user-service needs.
type Store interface {
	// CreateProfile creates p's profile once per event and once per user:
	// redelivered events and duplicate accounts change nothing. consumer and
	// eventID are recorded in the same transaction as the profile.
	CreateProfile(ctx context.Context, consumer, eventID string, p NewProfile) (created bool, err error)
	// Profile returns the user's profile, or ErrNotFound.
	Profile(ctx context.Context, userID string) (Profile, error)
	// UpdateProfile applies change to the user's profile and records the
	// users.profile.updated event in the same transaction, or returns
	// ErrNotFound. change returns the new profile and whether anything
	// changed (nothing is written, nor published, when not).
	UpdateProfile(ctx context.Context, userID string, change func(Profile) (Profile, bool)) (Profile, error)
	// Search returns up to q.Limit profiles matching q, in (Key, UserID)
	// order, after q.After.
	Search(ctx context.Context, q SearchQuery) ([]Profile, error)
}

// Errors the domain reports; httpapi maps them to problems.
var (
	// ErrNotFound means there is no such profile.
	ErrNotFound = errors.New("profile not found")
	// ErrProfileNotReady means the caller's account exists (their token
	// says so) but its registration event has not been processed yet.
	ErrProfileNotReady = errors.New("profile not created yet")
	// ErrUnauthenticated means the caller is not a user (anonymous token).
	ErrUnauthenticated = errors.New("a signed-in user is required")
)

// FieldError names one invalid input.
type FieldError struct {
	Field   string
	Message string
}

// InvalidError lists every invalid input of a request.
type InvalidError struct {
	Fields []FieldError
}

func (e *InvalidError) Error() string {
	if len(e.Fields) == 0 {
		return "invalid input"
	}
	return "invalid " + e.Fields[0].Field + ": " + e.Fields[0].Message
}
