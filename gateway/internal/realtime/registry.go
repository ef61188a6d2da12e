package realtime

import (
	"sort"
	"sync"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/gateway/internal/session"
)

// entry is one local socket of a user.
type entry struct {
	id   session.Identity
	sock *socket.Socket
}

// registry knows which users have sockets on this instance: deliveries
// skip users who are not here, presence reports them, and revocations find
// the sockets to close.
type registry struct {
	mu    sync.RWMutex
	users map[string]map[*socket.Socket]session.Identity
	// pending counts each user's sockets accepted by the middleware and
	// not registered yet, so concurrent handshakes cannot overshoot the
	// per-user cap between the check and the registration.
	pending map[string]int
}

func newRegistry() *registry {
	return &registry{
		users:   make(map[string]map[*socket.Socket]session.Identity),
		pending: make(map[string]int),
	}
}

// count is the number of sockets registered.
func (r *registry) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, socks := range r.users {
		n += len(socks)
	}
	return n
}

// reserve takes one of userID's limit socket slots and reports whether
// one was free; add turns the reservation into the socket's entry, release
// gives it back.
func (r *registry) reserve(userID string, limit int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.users[userID])+r.pending[userID] >= limit {
		return false
	}
	r.pending[userID]++
	return true
}

// release gives back a reservation whose socket never registered.
func (r *registry) release(userID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreserve(userID)
}

func (r *registry) unreserve(userID string) {
	if n := r.pending[userID]; n > 1 {
		r.pending[userID] = n - 1
	} else {
		delete(r.pending, userID)
	}
}

// add records sock in place of its reservation and reports whether it is
// the user's first here.
func (r *registry) add(id session.Identity, sock *socket.Socket) (first bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreserve(id.UserID)
	m := r.users[id.UserID]
	if m == nil {
		m = make(map[*socket.Socket]session.Identity)
		r.users[id.UserID] = m
	}
	m[sock] = id
	return len(m) == 1
}

// remove forgets sock and reports whether it was the user's last here.
func (r *registry) remove(userID string, sock *socket.Socket) (last bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.users[userID]
	if !ok {
		return false
	}
	if _, ok := m[sock]; !ok {
		return false
	}
	delete(m, sock)
	if len(m) == 0 {
		delete(r.users, userID)
		return true
	}
	return false
}

// has reports whether userID has a socket here.
func (r *registry) has(userID string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.users[userID]) > 0
}

// sockets returns the user's local sockets.
func (r *registry) sockets(userID string) []entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]entry, 0, len(r.users[userID]))
	for sock, id := range r.users[userID] {
		out = append(out, entry{id: id, sock: sock})
	}
	return out
}

// appendSockets appends the user's local sockets to socks.
func (r *registry) appendSockets(socks []*socket.Socket, userID string) []*socket.Socket {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for sock := range r.users[userID] {
		socks = append(socks, sock)
	}
	return socks
}

// userIDs returns the users with at least one socket here, sorted.
func (r *registry) userIDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.users))
	for u := range r.users {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// lru remembers the last n event ids, so an event redelivered by the
// at-least-once queue reaches each socket only once.
type lru struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int
}

func newLRU(n int) *lru {
	return &lru{seen: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add records id and reports whether it was new.
func (l *lru) add(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[id]; ok {
		return false
	}
	if old := l.ring[l.next]; old != "" {
		delete(l.seen, old)
	}
	l.ring[l.next] = id
	l.seen[id] = struct{}{}
	l.next = (l.next + 1) % len(l.ring)
	return true
}
