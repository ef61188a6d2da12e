package revocation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// SnapshotPath is auth-service's list of revocations still in force.
const SnapshotPath = "/api/v1/internal/revocations"

// Snapshot is auth-service's answer at SnapshotPath: every revoked session
// whose tokens may still be unexpired, and every password-change cut-off
// still in force.
type Snapshot struct {
	Sessions []struct {
		SessionID    string    `json:"sessionId"`
		UserID       string    `json:"userId"`
		RevokedUntil time.Time `json:"revokedUntil"`
	} `json:"sessions"`
	PasswordChanges []struct {
		UserID       string    `json:"userId"`
		ChangedAt    time.Time `json:"changedAt"`
		RevokedUntil time.Time `json:"revokedUntil"`
	} `json:"passwordChanges"`
}

// Apply adds every entry of snap to s.
func (s *Store) Apply(snap Snapshot) {
	for _, r := range snap.Sessions {
		s.RevokeSessions(r.UserID, []string{r.SessionID}, r.RevokedUntil)
	}
	for _, r := range snap.PasswordChanges {
		s.RevokeUserBefore(r.UserID, r.ChangedAt, r.RevokedUntil)
	}
}

// Loader fetches the snapshot from auth-service.
type Loader struct {
	Client  *http.Client
	AuthURL string
	// Token returns a fresh internal token (sub "gateway", aud auth-service).
	Token func() (string, error)
	Log   zerolog.Logger
}

// Fetch asks auth-service once.
func (l *Loader) Fetch(ctx context.Context) (Snapshot, error) {
	tok, err := l.Token()
	if err != nil {
		return Snapshot{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(l.AuthURL, "/")+SnapshotPath, nil)
	if err != nil {
		return Snapshot{}, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := l.Client.Do(req)
	if err != nil {
		return Snapshot{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Snapshot{}, fmt.Errorf("revocation snapshot: %s: %s", resp.Status, body)
	}
	var snap Snapshot
	// Bounded: even a busy system revokes far fewer than 64 MiB of ids
	// within one session-token lifetime.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&snap); err != nil {
		return Snapshot{}, fmt.Errorf("revocation snapshot: decode: %w", err)
	}
	return snap, nil
}

// Sync fetches the snapshot into store, retrying with capped backoff until
// auth-service answers or ctx ends, then marks the store loaded. The event
// consumer must already be running, so nothing revoked during the fetch is
// missed.
func (l *Loader) Sync(ctx context.Context, store *Store) error {
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		snap, err := l.Fetch(ctx)
		if err == nil {
			store.Apply(snap)
			store.MarkLoaded()
			l.Log.Info().Int("revocation.sessions", len(snap.Sessions)).
				Int("revocation.users", len(snap.PasswordChanges)).
				Int("attempts", attempt).Msg("revocation snapshot loaded")
			return nil
		}
		l.Log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", delay).
			Msg("revocation snapshot unavailable; authenticated routes answer 503 until it loads")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// Refresh re-applies the snapshot every interval until ctx ends. Events are
// delivered to this instance at most once and not at all while its broker
// connection is down; the periodic snapshot bounds how long a revocation
// missed that way goes unnoticed.
func (l *Loader) Refresh(ctx context.Context, store *Store, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		snap, err := l.Fetch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.Log.Warn().Err(err).Msg("revocation snapshot refresh failed; keeping the current list")
			}
			continue
		}
		store.Apply(snap)
	}
}

// RunPruner forgets expired entries every interval until ctx ends.
func (s *Store) RunPruner(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Prune()
		}
	}
}
