package users

import (
	"encoding/base64"
	"encoding/json"
	"errors"
)

// cursor is what an opaque page cursor holds. It repeats the prefix so a
// cursor cannot be replayed against another query.
type cursor struct {
	Prefix string `json:"q"`
	Key    string `json:"k"`
	UserID string `json:"i"`
}

var errBadCursor = errors.New("bad cursor")

func encodeCursor(prefix string, p Position) string {
	b, _ := json.Marshal(cursor{Prefix: prefix, Key: p.Key, UserID: p.UserID}) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, prefix string) (Position, error) {
	if len(s) > 1024 {
		return Position{}, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Position{}, errBadCursor
	}
	// Every field is checked before it reaches SQL: a cursor is client
	// input however opaque it looks ("\u0000" decodes to a NUL).
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Prefix != prefix || !validUserID(c.UserID) ||
		!storableText(c.Key) {
		return Position{}, errBadCursor
	}
	return Position{Key: c.Key, UserID: c.UserID}, nil
}
