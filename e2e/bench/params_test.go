package bench

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// params shape the message-path benchmark; every one has an environment
// variable (BENCH_*) and a default matching the shape the issue measured.
type params struct {
	Conversations int           // spread: group conversations, one sender and Receivers receivers each
	Receivers     int           // spread: receivers per conversation
	HotSenders    int           // hot: senders in the one group
	HotReceivers  int           // hot: members who only receive
	FixedRates    []float64     // fixed-rate steps, msg/s
	FixedFor      time.Duration // each fixed step
	RampFrom      float64       // first ramp step, msg/s
	RampFactor    float64       // each ramp step offers this much more
	RampStep      time.Duration // each ramp step
	RampMax       float64       // the ramp stops here at the latest
	HotRampFrom   float64
	OverloadFor   time.Duration // the burst at 2× the sustained rate
	CalmFor       time.Duration // the calm probe before the burst
	RecoveryFor   time.Duration // the calm probe after it, watched for recovery
	Drain         time.Duration // longest wait for the tail of acks and deliveries
	AckTimeout    time.Duration // the load client's ack timeout (beyond the gateway's 10 s command timeout)
	BaselineConns int           // baseline: pgx pool size, one worker per connection
	BaselineFor   time.Duration
	ShipLogs      bool // ship service logs to Elasticsearch, as `make up` does
	Timeline      bool // print each fixed step second by second (BENCH_TIMELINE=1)
}

func loadParams(b *testing.B) params {
	b.Helper()
	p := params{
		Conversations: envInt(b, "BENCH_CONVERSATIONS", 200),
		Receivers:     envInt(b, "BENCH_RECEIVERS", 1),
		HotSenders:    envInt(b, "BENCH_HOT_SENDERS", 25),
		HotReceivers:  envInt(b, "BENCH_HOT_RECEIVERS", 1),
		FixedRates:    envRates(b, "BENCH_FIXED_RATES", []float64{500, 1000}),
		FixedFor:      envDuration(b, "BENCH_FIXED_FOR", 10*time.Second),
		RampFrom:      envFloat(b, "BENCH_RAMP_FROM", 200),
		RampFactor:    envFloat(b, "BENCH_RAMP_FACTOR", 1.2),
		RampStep:      envDuration(b, "BENCH_RAMP_STEP", 5*time.Second),
		RampMax:       envFloat(b, "BENCH_RAMP_MAX", 8000),
		HotRampFrom:   envFloat(b, "BENCH_HOT_RAMP_FROM", 50),
		OverloadFor:   envDuration(b, "BENCH_OVERLOAD_FOR", 10*time.Second),
		CalmFor:       envDuration(b, "BENCH_CALM_FOR", 3*time.Second),
		RecoveryFor:   envDuration(b, "BENCH_RECOVERY_FOR", 10*time.Second),
		Drain:         envDuration(b, "BENCH_DRAIN", 20*time.Second),
		AckTimeout:    envDuration(b, "BENCH_ACK_TIMEOUT", 15*time.Second),
		BaselineConns: envInt(b, "BENCH_BASELINE_CONNS", 32),
		BaselineFor:   envDuration(b, "BENCH_BASELINE_FOR", 10*time.Second),
		ShipLogs:      envInt(b, "BENCH_SHIP_LOGS", 1) != 0,
		Timeline:      envInt(b, "BENCH_TIMELINE", 0) != 0,
	}
	if p.Conversations < 1 || p.Receivers < 1 || p.HotSenders < 1 || p.HotReceivers < 1 || p.BaselineConns < 1 ||
		p.RampFactor <= 1 || p.RampFrom <= 0 || p.HotRampFrom <= 0 {
		b.Fatalf("BENCH_* parameters out of range: %+v", p)
	}
	return p
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

func envFloat(b *testing.B, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		b.Fatalf("%s=%q: %v", name, v, err)
	}
	return f
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 10s", name, v)
	}
	return d
}

func envRates(b *testing.B, name string, def []float64) []float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []float64
	for _, f := range strings.Split(v, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			b.Fatalf("%s=%q: want positive rates separated by commas", name, v)
		}
		out = append(out, r)
	}
	return out
}

// floodControl is chat-service's default per-user flood control, read from
// its configuration source so that the benchmark's ceiling follows the
// default the stack really runs with (the benchmark never changes it).
type floodControl struct {
	Rate  float64 // messages/s per user and chat-service instance
	Burst int
	Known bool // false: the defaults could not be read; 10/s, 20 assumed
}

// configDefault reads the envDefault of variable name from a service's
// configuration source (path from the repository root), so that the
// benchmark follows the defaults the stack really runs with.
func configDefault(path, name string) (string, bool) {
	src, err := os.ReadFile(harness.RepoRoot() + "/" + path)
	if err != nil {
		return "", false
	}
	m := regexp.MustCompile(`env:"` + regexp.QuoteMeta(name) + `" envDefault:"([^"]*)"`).FindSubmatch(src)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

func chatFloodControl() floodControl {
	fc := floodControl{Rate: 10, Burst: 20}
	const src = "chat-service/internal/config/config.go"
	r, ok1 := configDefault(src, "MESSAGE_RATE")
	bu, ok2 := configDefault(src, "MESSAGE_BURST")
	if !ok1 || !ok2 {
		return fc
	}
	rate, err1 := strconv.ParseFloat(r, 64)
	burst, err2 := strconv.Atoi(bu)
	if err1 != nil || err2 != nil {
		return fc
	}
	return floodControl{Rate: rate, Burst: burst, Known: true}
}

// ceiling is the highest offered rate senders users can keep up without
// flood control refusing any of them (0: no limit).
func (f floodControl) ceiling(senders int) float64 {
	if f.Rate <= 0 {
		return 0
	}
	return f.Rate * float64(senders)
}
