package events

import "time"

// Event types produced by user-service on ExchangeUsers.
const (
	TypeProfileUpdated = "users.profile.updated"
)

// ProfileUpdatedV1 carries a user's public profile after a change.
type ProfileUpdatedV1 struct {
	UserID      string    `json:"userId"`
	Username    string    `json:"username"`
	DisplayName string    `json:"displayName"`
	AvatarURL   string    `json:"avatarUrl,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
}
