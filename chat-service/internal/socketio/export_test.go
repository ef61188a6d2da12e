package socketio

// Submit queues job as a command of userID, for tests that need a worker
// held busy at a known point.
func Submit(s *Server, userID string, job func()) error {
	return s.workers.submit(userID, job, func() {})
}

// Queued is how many commands wait in the workers' queues.
func Queued(s *Server) int {
	n := 0
	for _, wk := range s.workers.queues {
		n += len(wk.q)
	}
	return n
}
