package logging

import (
	"time"

	"github.com/rs/zerolog"
)

// Sampled returns l writing the first 100 records a second in full and then
// one in 100: the policy for records of successful high-volume work
// (socket commands, consumed and published events), so an SRE sees them at
// the default level, with their trace ids and durations, without a busy
// instance flooding Elasticsearch. Failures are never logged through it.
func Sampled(l zerolog.Logger) zerolog.Logger {
	return l.Sample(&zerolog.BurstSampler{Burst: 100, Period: time.Second, NextSampler: &zerolog.BasicSampler{N: 100}})
}
