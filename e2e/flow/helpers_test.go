package flow

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// directWhenKnown opens c's direct conversation with peer once chat-service
// has learnt of both users (their registration events arrive shortly
// after signup) and returns its id.
func directWhenKnown(t *testing.T, c, peer *harness.Client) string {
	t.Helper()
	var conv struct {
		ID string `json:"id"`
	}
	harness.Eventually(t, 15*time.Second, "direct conversation", func() error {
		r := c.Do(http.MethodPost, "/api/v1/conversations", map[string]any{"kind": "direct", "members": []string{peer.UserID}})
		if r.Status != 200 && r.Status != 201 {
			return harness.Errorf("%d %s", r.Status, r.Body)
		}
		r.JSON(t, &conv)
		return nil
	})
	return conv.ID
}
