package link

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/parleychat/parley/shared/problem"
)

func TestEnvelopeToleratesUnknownFields(t *testing.T) {
	var e Envelope
	raw := `{"token":"t","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","data":{"x":1},"addedLater":true}`
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if e.Token != "t" || string(e.Data) != `{"x":1}` {
		t.Errorf("got %+v", e)
	}
}

func TestFailedCarriesProblemAndRetryHint(t *testing.T) {
	p := problem.New(http.StatusServiceUnavailable, "overloaded", "try again shortly")
	p.RetryAfter = 2
	p.TraceID = "0af7651916cd43dd8448eb211c80319c"
	b, err := json.Marshal(Failed(p))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK    bool `json:"ok"`
		Error struct {
			Status  int    `json:"status"`
			Code    string `json:"code"`
			TraceID string `json:"traceId"`
		} `json:"error"`
		RetryAfterMs int64 `json:"retryAfterMs"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.OK || got.Error.Status != 503 || got.Error.Code != "overloaded" || got.Error.TraceID != p.TraceID || got.RetryAfterMs != 2000 {
		t.Errorf("Failed = %s", b)
	}
	if b, _ := json.Marshal(OK()); string(b) != `{"ok":true}` {
		t.Errorf("OK = %s, want {\"ok\":true}", b)
	}
}
