package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/olivere/elastic/v7"

	"github.com/parleychat/parley/e2e/harness"
)

// hop is one log record's service and dataset.
type hop struct{ service, dataset string }

// TestOneTraceAcrossEveryHop follows one signup and one socket message
// through Elasticsearch by the trace id the gateway started: every service
// that does work for them writes records carrying that id.
func TestOneTraceAcrossEveryHop(t *testing.T) {
	s := harness.Start(t, harness.Options{Logs: true})
	es, err := elastic.NewClient(elastic.SetURL(s.Infra.ElasticsearchURL), elastic.SetSniff(false), elastic.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}

	// A signup: gateway → auth-service → outbox → RabbitMQ → user-service
	// and chat-service consumers.
	name := "u" + uuid.NewString()[:8]
	c := harness.NewClient(t, s.Gateway())
	r := c.Do(http.MethodPost, "/api/v1/auth/signup", map[string]string{
		"username": name, "email": name + "@example.com", "password": "correct horse battery " + name,
	}).Expect(t, http.StatusCreated, "signup")
	signupTrace := r.Header.Get("X-Trace-Id")
	if len(signupTrace) != 32 {
		t.Fatalf("signup answered trace id %q", signupTrace)
	}
	var out struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	r.JSON(t, &out)
	c.UserID = out.User.ID
	want := []hop{
		{"gateway", "http.request"}, {"auth-service", "http.request"}, {"auth-service", "outbox.publish"},
		{"user-service", "rabbitmq.consume"}, {"chat-service", "rabbitmq.consume"},
	}
	found := waitForHops(t, es, signupTrace, want)
	t.Logf("signup trace %s: %s", signupTrace, found)

	// A message over Socket.IO: gateway command → link → chat-service
	// command → outbox → RabbitMQ → the gateway's delivery to the peer.
	peer := harness.NewClient(t, s.Gateway()).SignUp()
	convID := directWhenKnown(t, c, peer)
	recv, err := harness.DialSocket(t, s.Gateway(), harness.SocketOptions{Header: peer.SocketHeader()})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	send, err := harness.DialSocket(t, s.Gateway(), harness.SocketOptions{Header: c.SocketHeader()})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	send.MustEmit("message:send", map[string]any{"conversationId": convID, "clientMsgId": uuid.NewString(), "body": "traced"})
	recv.WaitUntil(15*time.Second, "the peer's message:new", func(evs []harness.SocketEvent) bool {
		for _, e := range evs {
			if e.Name == "message:new" {
				return true
			}
		}
		return false
	})

	// The command's trace id is on the gateway's record of the command.
	var msgTrace string
	harness.Eventually(t, 30*time.Second, "the gateway's record of the command", func() error {
		_, _ = es.Refresh("parley-logs-*").Do(context.Background())
		res, err := es.Search("parley-logs-*").Query(elastic.NewBoolQuery().Filter(
			elastic.NewTermQuery("service.name", "gateway"), elastic.NewTermQuery("event.dataset", "socketio.command"),
			elastic.NewTermQuery("user.id", c.UserID), elastic.NewTermQuery("socketio.event", "message:send"),
		)).Size(1).Do(context.Background())
		if err != nil {
			return err
		}
		if len(res.Hits.Hits) == 0 {
			return fmt.Errorf("none yet")
		}
		var doc struct {
			TraceID string `json:"trace.id"`
		}
		_ = json.Unmarshal(res.Hits.Hits[0].Source, &doc)
		msgTrace = doc.TraceID
		return nil
	})
	want = []hop{
		{"gateway", "socketio.command"}, {"chat-service", "socketio.command"}, {"chat-service", "outbox.publish"},
		{"gateway", "realtime.delivery"},
	}
	found = waitForHops(t, es, msgTrace, want)
	t.Logf("message trace %s: %s", msgTrace, found)
}

// waitForHops waits until Elasticsearch holds, for traceID, a record of
// every wanted hop, and returns every hop found, for the log.
func waitForHops(t *testing.T, es *elastic.Client, traceID string, want []hop) string {
	t.Helper()
	var seen map[hop]int
	deadline := time.Now().Add(45 * time.Second)
	for {
		seen = map[hop]int{}
		_, _ = es.Refresh("parley-logs-*").Do(context.Background())
		res, err := es.Search("parley-logs-*").Query(elastic.NewTermQuery("trace.id", traceID)).Size(200).Do(context.Background())
		if err == nil {
			for _, h := range res.Hits.Hits {
				var doc struct {
					Service string `json:"service.name"`
					Dataset string `json:"event.dataset"`
				}
				_ = json.Unmarshal(h.Source, &doc)
				seen[hop{doc.Service, doc.Dataset}]++
			}
		}
		var missing []string
		for _, w := range want {
			if seen[w] == 0 {
				missing = append(missing, w.service+"/"+w.dataset)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: no record of %v; found %s", traceID, missing, describe(seen))
		}
		time.Sleep(500 * time.Millisecond)
	}
	return describe(seen)
}

func describe(seen map[hop]int) string {
	var parts []string
	for h, n := range seen {
		parts = append(parts, fmt.Sprintf("%s/%s×%d", h.service, h.dataset, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
