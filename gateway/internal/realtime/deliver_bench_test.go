package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zishang520/socket.io/parsers/socket/v3/parser"

	"github.com/parleychat/parley/shared/events"
)

// BenchmarkDeliver measures the delivery consumer's work per event: decode
// the envelope as the queue consumer does, then Deliver it to the one
// socket of its recipient (a connected WebSocket client).
func BenchmarkDeliver(b *testing.B) {
	t := &testing.T{}
	r := newRig(t, Options{})
	defer func() { r.srv.Close(); r.http.Close() }()
	ex, ok := events.ExampleFor("chat.message.created.v1")
	if !ok {
		b.Fatal("no chat.message.created.v1 example")
	}
	var d events.Delivery
	if err := ex.DecodeData(&d); err != nil {
		b.Fatal(err)
	}
	sock, err := r.dial(cookie(r.sessionToken(d.Recipients[0], "s-bench")), "websocket")
	if err != nil {
		b.Fatal(err)
	}
	defer sock.Disconnect()
	var got atomic.Int64
	sock.On("message:new", func(...any) { got.Add(1) })
	for !r.srv.registry.has(d.Recipients[0]) {
		time.Sleep(time.Millisecond)
	}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		ex.ID = fmt.Sprintf("00000000-0000-7000-8000-%012d", i)
		raw, err := json.Marshal(ex)
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = raw
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := range b.N {
		env, err := events.Decode(bodies[i])
		if err != nil {
			b.Fatal(err)
		}
		if err := r.srv.Deliver(context.Background(), env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliverEncode isolates what the delivery path does per event on
// the consumer's goroutine, without sockets: decode the envelope, read the
// delivery, and encode the Socket.IO packet clients receive (done once per
// emit, whatever the number of recipients). "decode-reencode" is the
// former path (payload decoded to plain values, encoded again), "raw" is
// Deliver's (payload passed through as json.RawMessage).
func BenchmarkDeliverEncode(b *testing.B) {
	ex, ok := events.ExampleFor("chat.message.created.v1")
	if !ok {
		b.Fatal("no chat.message.created.v1 example")
	}
	body, err := json.Marshal(ex)
	if err != nil {
		b.Fatal(err)
	}
	enc := parser.NewEncoder()
	encode := func(data any) {
		out := enc.Encode(&parser.Packet{Type: parser.EVENT, Nsp: "/", Data: []any{"message:new", data}})
		if len(out) != 1 {
			b.Fatalf("encoded into %d buffers, want 1 (no binary attachment)", len(out))
		}
	}
	b.Run("decode-reencode", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			env, err := events.Decode(body)
			if err != nil {
				b.Fatal(err)
			}
			var d events.Delivery
			if err := env.DecodeData(&d); err != nil {
				b.Fatal(err)
			}
			var payload any
			if err := json.Unmarshal(d.Payload, &payload); err != nil {
				b.Fatal(err)
			}
			encode(payload)
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			env, err := events.Decode(body)
			if err != nil {
				b.Fatal(err)
			}
			var d routing
			if err := env.DecodeData(&d); err != nil {
				b.Fatal(err)
			}
			encode(d.Payload)
		}
	})
}

// reportCPU reports the process's CPU time (user+system) per operation
// besides the wall-clock ns/op, which a busy shared machine inflates with
// time spent waiting for a core. Call the returned function at the end.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
