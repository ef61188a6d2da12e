//go:build fault

package chaos

import "time"

// With -tags fault (make chaos), the chaos test also SIGKILLs RabbitMQ
// and restarts PostgreSQL: the shared infrastructure, so only in runs that
// have the machine to themselves.
func init() {
	infraFaults = append(infraFaults,
		fault{"SIGKILL RabbitMQ", func(w *World, down time.Duration) { w.KillBroker(down) }},
		fault{"restart PostgreSQL", func(w *World, down time.Duration) { w.RestartPostgres(down) }},
	)
}
