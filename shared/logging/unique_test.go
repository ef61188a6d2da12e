package logging

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
)

func TestHasDuplicateKeys(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"a":1,"b":"x"}`, false},
		{`{"a":1,"a":2}`, true},
		{`{"a":{"b":1,"b":2}}`, false}, // nested: not a top-level clash
		{`{"a":"\"b\":1,","b":[{"a":1}]}`, false},
		{`{"event.dataset":"socketio.server","x":"y","event.dataset":"socketio.command"}`, true},
		{`{"k\"q":1,"k\"q":2}`, true},
		{`[1,2]`, false},
		{``, false},
	}
	for _, tt := range tests {
		if got := hasDuplicateKeys([]byte(tt.in)); got != tt.want {
			t.Errorf("hasDuplicateKeys(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestLoggerNeverWritesDuplicateFields builds a logger as every service does
// and sets one field on the child logger and again on the event, which is
// how the gateway's socket command records were once refused by
// Elasticsearch.
func TestLoggerNeverWritesDuplicateFields(t *testing.T) {
	var out bytes.Buffer
	lg, err := New(Config{Service: "svc", Version: "1", Level: zerolog.InfoLevel, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	child := lg.Logger.With().Str("event.dataset", "socketio.server").Str("socket.id", "s1").Logger()
	child.Warn().Str("event.dataset", "socketio.command").Int("http.response.status_code", 503).Msg("command refused")
	line := strings.TrimSpace(out.String())
	if hasDuplicateKeys([]byte(line)) {
		t.Fatalf("record still has a duplicate field: %s", line)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("record is not JSON: %v: %s", err, line)
	}
	if rec["event.dataset"] != "socketio.command" || rec["socket.id"] != "s1" || rec["message"] != "command refused" {
		t.Errorf("record = %v, want the event's own event.dataset and every other field", rec)
	}
	if strings.Count(line, `"event.dataset"`) != 1 {
		t.Errorf("event.dataset appears %d times: %s", strings.Count(line, `"event.dataset"`), line)
	}
}

func BenchmarkUniqueKeysScan(b *testing.B) {
	rec := []byte(`{"log.level":"info","ecs.version":"1.6.0","service.name":"gateway","service.version":"0.1.0","trace.id":"9e66080deff455bbf2629660dd2c1ef9","span.id":"811d997334a7aeab","user.id":"01a22e10-5530-7bbd-9ad3-e1dbb9bff43a","http.request.method":"GET","url.path":"/api/v1/users/me","http.response.status_code":200,"event.duration":1234567,"@timestamp":"2026-11-30T20:05:50.636Z","message":"request"}` + "\n")
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if hasDuplicateKeys(rec) {
			b.Fatal("no duplicates expected")
		}
	}
}

// TestRejectedRecordsMakeShippingUnhealthy writes, against the real
// Elasticsearch, one record whose field clashes with the index mapping (a
// string where ECS has an object): it is refused, counted, and the shipper
// reports itself unhealthy instead of "healthy, failed: 1".
func TestRejectedRecordsMakeShippingUnhealthy(t *testing.T) {
	url := esURL(t)
	service := "logtest-" + uuid.NewString()[:8]
	lg, err := New(Config{Service: service, Version: "test", Level: zerolog.InfoLevel, ElasticsearchURL: url, Stdout: io.Discard, FlushInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeWithin(lg, 3*time.Second) })
	lg.Logger.Info().Msg("a good record first")
	deadline := time.Now().Add(15 * time.Second)
	for lg.Shipper.Stats().Shipped < 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if st := lg.Shipper.Stats(); st.Shipped < 1 || !st.Healthy {
		t.Fatalf("after a good record: %+v, want shipped and healthy", st)
	}
	lg.Logger.Info().Str("url", "not an object").Msg("clashes with the url object of the mapping")
	for lg.Shipper.Stats().Failed < 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	st := lg.Shipper.Stats()
	if st.Failed != 1 || st.Healthy || st.LastError == "" {
		t.Errorf("after a refused record: %+v, want failed 1, unhealthy, with the reason", st)
	}
}
