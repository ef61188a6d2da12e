package chat_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// BenchmarkSend measures persisted messages per second through the real
// store: each Send is one transaction writing the message, the change-log
// event and the outbox row. "hot" sends into one conversation (serialised
// by its row lock, the worst case); "spread" into 64 conversations.
// Run: go test -run '^$' -bench Send -benchtime 5s ./internal/chat/
func BenchmarkSend(b *testing.B) {
	for _, tc := range []struct {
		name  string
		convs int
	}{{"hot", 1}, {"spread", 64}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newBenchEnv(b)
			users := make([]string, 8)
			for i := range users {
				users[i] = e.benchUser(b, i)
			}
			convs := make([]string, tc.convs)
			for i := range convs {
				c, _, err := e.svc.CreateConversation(context.Background(), users[0], chat.NewConversation{Kind: chat.KindGroup, Title: "bench", Members: users[1:]})
				if err != nil {
					b.Fatal(err)
				}
				convs[i] = c.ID
			}
			var n atomic.Int64
			b.SetParallelism(8) // 8 × GOMAXPROCS senders keep the database busy
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					_, _, err := e.svc.Send(context.Background(), users[i%int64(len(users))], chat.NewMessage{
						ConversationID: convs[i%int64(len(convs))], ClientMsgID: fmt.Sprintf("b-%d", i), Body: "benchmark message body"})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64(n.Load())/elapsed.Seconds(), "msgs/s")
		})
	}
}
