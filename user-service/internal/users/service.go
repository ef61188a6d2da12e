package users

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Service is user-service's use cases.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns the use cases backed by store.
func NewService(store Store) *Service {
	return &Service{store: store, now: time.Now}
}

// Register creates the profile of a newly registered account; its display
// name starts as the username. It returns false when the event was already
// processed or the user already has a profile. An *InvalidError means the
// event can never be processed.
func (s *Service) Register(ctx context.Context, consumer, eventID string, p NewProfile) (bool, error) {
	var errs []FieldError
	if !validUserID(p.UserID) {
		errs = append(errs, FieldError{"userId", "must be a UUID"})
	}
	if p.Username == "" || utf8.RuneCountInString(p.Username) > MaxDisplayName || hasControl(p.Username, false) {
		errs = append(errs, FieldError{"username", "must be 1–64 characters without control characters"})
	}
	if eventID == "" {
		errs = append(errs, FieldError{"id", "event id is required"})
	}
	if len(errs) > 0 {
		return false, &InvalidError{Fields: errs}
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return s.store.CreateProfile(ctx, consumer, eventID, p)
}

// Me returns the caller's own profile. ErrProfileNotReady means the account
// exists but its profile is still being created: retry shortly.
func (s *Service) Me(ctx context.Context, callerID string) (Profile, error) {
	if !validUserID(callerID) {
		return Profile{}, ErrUnauthenticated
	}
	p, err := s.store.Profile(ctx, callerID)
	if errors.Is(err, ErrNotFound) {
		return Profile{}, ErrProfileNotReady
	}
	return p, err
}

// UpdateMe applies u to the caller's profile and announces the change
// (users.profile.updated.v1) when anything changed.
func (s *Service) UpdateMe(ctx context.Context, callerID string, u Update) (Profile, error) {
	if !validUserID(callerID) {
		return Profile{}, ErrUnauthenticated
	}
	u, err := validateUpdate(u)
	if err != nil {
		return Profile{}, err
	}
	now := s.now().UTC()
	p, err := s.store.UpdateProfile(ctx, callerID, func(old Profile) (Profile, bool) {
		p := u.Apply(old)
		if p == old {
			return old, false
		}
		p.UpdatedAt = now
		return p, true
	})
	if errors.Is(err, ErrNotFound) {
		return Profile{}, ErrProfileNotReady
	}
	return p, err
}

// Get returns anyone's public profile.
func (s *Service) Get(ctx context.Context, id string) (Profile, error) {
	if !validUserID(id) {
		return Profile{}, ErrNotFound
	}
	return s.store.Profile(ctx, id)
}

// Search returns one page of profiles whose username or display name starts
// with query (case-insensitively), in username order. limit 0 means
// DefaultLimit; cursor is the previous page's NextCursor, or "".
func (s *Service) Search(ctx context.Context, query string, limit int, cursorText string) (Page, error) {
	var errs []FieldError
	prefix := strings.ToLower(strings.TrimSpace(query))
	if utf8.RuneCountInString(prefix) > MaxQuery {
		errs = append(errs, FieldError{"query", "must be at most 64 characters"})
	} else if hasControl(prefix, false) {
		errs = append(errs, FieldError{"query", "must not contain control characters"})
	}
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		errs = append(errs, FieldError{"limit", "must be between 1 and 100"})
	}
	var after *Position
	if cursorText != "" {
		pos, err := decodeCursor(cursorText, prefix)
		if err != nil {
			errs = append(errs, FieldError{"cursor", "is not a cursor of this query"})
		}
		after = &pos
	}
	if len(errs) > 0 {
		return Page{}, &InvalidError{Fields: errs}
	}
	// One extra row tells whether a next page exists.
	found, err := s.store.Search(ctx, SearchQuery{Prefix: prefix, Limit: limit + 1, After: after})
	if err != nil {
		return Page{}, err
	}
	page := Page{Profiles: found}
	if len(found) > limit {
		page.Profiles = found[:limit]
		last := page.Profiles[limit-1]
		page.NextCursor = encodeCursor(prefix, Position{Key: strings.ToLower(last.Username), UserID: last.UserID})
	}
	return page, nil
}
