package socketio_test

import (
	"bytes"
	"encoding/json"
	"sync"
)

// connectedLog is the fixture's log output: it remembers the ids of the
// sockets the server's connection handler logged as connected ("gateway
// link connected"), the point from which the server takes packets on a
// link.
type connectedLog struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (l *connectedLog) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte("gateway link connected")) {
		return len(p), nil
	}
	var line struct {
		Message string `json:"message"`
		ID      string `json:"socket.id"`
	}
	if json.Unmarshal(p, &line) == nil && line.Message == "gateway link connected" {
		l.mu.Lock()
		if l.ids == nil {
			l.ids = map[string]bool{}
		}
		l.ids[line.ID] = true
		l.mu.Unlock()
	}
	return len(p), nil
}

// connected reports whether the server took the socket id.
func (l *connectedLog) connected(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[id]
}
