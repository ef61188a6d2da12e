package httpapi_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/parleychat/parley/gateway/internal/httpapi"
)

// BenchmarkAuthenticatedRequest is one authenticated GET through the
// gateway over loopback HTTP: cookie verification, revocation check,
// internal-token minting, proxying, and the upstream verifying that token
// (as every real service does). It prints the gateway's whole per-request
// cost on this machine, the upstream's verification included.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	e := newEnv(b, envOptions{})
	raw := e.sessionToken("user-1", "session-1")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", e.gw.URL+"/api/v1/users/me", nil)
			req.Header.Set("Cookie", httpapi.SessionCookie+"="+raw)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
