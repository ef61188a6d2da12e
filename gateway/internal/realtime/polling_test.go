package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// dialPolling joins the default namespace over Engine.IO long-polling by
// hand (handshake, CONNECT, then polls until the namespace answers) and
// returns once the server has registered the socket, or with the refusal:
// a connect_error as errConnect, a refused handshake as another error.
// The session is closed at the end of the test.
func (r *rig) dialPolling(h http.Header) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	do := func(method, url, body string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header = h.Clone()
		if body != "" {
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %d %s", method, resp.StatusCode, b)
		}
		return string(b), nil
	}
	open, err := do("GET", r.http.URL+"/socket.io/?EIO=4&transport=polling", "")
	if err != nil {
		return fmt.Errorf("handshake %w", err)
	}
	var hs struct{ Sid string }
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &hs) != nil || hs.Sid == "" {
		return fmt.Errorf("open packet %q", open)
	}
	url := r.http.URL + "/socket.io/?EIO=4&transport=polling&sid=" + hs.Sid
	if _, err := do("POST", url, "40"); err != nil {
		return fmt.Errorf("connect %w", err)
	}
	for {
		payload, err := do("GET", url, "")
		if err != nil {
			return fmt.Errorf("poll %w", err)
		}
		// A payload holds packets separated by the record separator.
		for _, p := range strings.Split(payload, "\x1e") {
			switch {
			case strings.HasPrefix(p, "40"):
				var ok struct{ Sid string }
				if json.Unmarshal([]byte(p[2:]), &ok) != nil || ok.Sid == "" {
					return fmt.Errorf("connect answer %q", p)
				}
				r.t.Cleanup(func() {
					cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					ctx = cctx
					_, _ = do("POST", url, "41\x1e1")
				})
				return r.awaitRegistered(ok.Sid, nil)
			case strings.HasPrefix(p, "44"):
				var refusal struct {
					Message string          `json:"message"`
					Data    json.RawMessage `json:"data"`
				}
				if err := json.Unmarshal([]byte(p[2:]), &refusal); err != nil {
					return fmt.Errorf("connect error %q: %w", p, err)
				}
				return newErrConnect(refusal.Message, refusal.Data)
			}
		}
	}
}
