package chat_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// BenchmarkSend measures persisted messages per second through the real
// store: each Send is one transaction writing the message, the change-log
// event and the outbox row. "hot" sends into one conversation (serialised
// by its row lock, the worst case); "spread" into 64 conversations;
// "wide" is the link's shape under load: 200 conversations and 64 senders
// at once (32 link workers per gateway, two gateways). Besides msgs/s it
// reports this process's CPU per message (cpu-ms/msg: the service's side
// of the store path, pgx included) and, with -benchmem, allocations.
// Run: go test -run '^$' -bench Send -benchtime 5s -benchmem ./internal/chat/
func BenchmarkSend(b *testing.B) {
	for _, tc := range []struct {
		name     string
		convs    int
		parallel int // senders per GOMAXPROCS
	}{{"hot", 1, 8}, {"spread", 64, 8}, {"wide", 200, 32}} {
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
			svc, counted := e.counted(b, unlimited())
			var n atomic.Int64
			b.SetParallelism(tc.parallel)
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					_, _, err := svc.Send(context.Background(), users[i%int64(len(users))], chat.NewMessage{
						ConversationID: convs[i%int64(len(convs))], ClientMsgID: fmt.Sprintf("b-%d", i), Body: "benchmark message body"})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed, used := time.Since(start), cpuTime()-cpu
			b.ReportMetric(float64(n.Load())/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(used.Microseconds())/1000/float64(n.Load()), "cpu-ms/msg")
			b.ReportMetric(float64(counted.stmts.Load())/float64(n.Load()), "stmts/msg")
			b.ReportMetric(float64(counted.trips.Load())/float64(n.Load()), "trips/msg")
		})
	}
}

// cpuTime is the CPU this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
