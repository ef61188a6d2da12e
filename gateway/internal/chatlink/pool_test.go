package chatlink

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestPoolSpreadsUsersAndFailsOver runs three chat-service instances: users
// are spread over their links, each user stays on one link, the users of
// an instance that goes down move to the others (and only they move), and
// they come back when it returns.
func TestPoolSpreadsUsersAndFailsOver(t *testing.T) {
	chats := []*chatServer{newChatServer(t, validToken), newChatServer(t, validToken), newChatServer(t, validToken)}
	p := newTestPool(t, chats[0].url(), chats[1].url(), chats[2].url())
	runPool(t, p)
	waitUntil(t, "three links", 5*time.Second, func() bool { return p.Up() == 3 })

	const users = 600
	home := make([]int, users)
	perLink := make([]int, len(p.links))
	for u := range users {
		home[u] = p.linkOf(fmt.Sprintf("user-%d", u))
		perLink[home[u]]++
	}
	for i, n := range perLink {
		if n < users/3*7/10 || n > users/3*13/10 {
			t.Errorf("link %d serves %d of %d users, want about a third (±30%%): %v", i, n, users, perLink)
		}
	}
	for u := range users {
		if again := p.linkOf(fmt.Sprintf("user-%d", u)); again != home[u] {
			t.Fatalf("user-%d moved from link %d to %d with every link up", u, home[u], again)
		}
	}

	chats[1].stop()
	waitUntil(t, "link 1 down", 5*time.Second, func() bool { return p.Up() == 2 })
	moved := make([]int, len(p.links))
	for u := range users {
		now := p.linkOf(fmt.Sprintf("user-%d", u))
		switch {
		case now == 1:
			t.Fatalf("user-%d still on the link that is down", u)
		case home[u] != 1 && now != home[u]:
			t.Fatalf("user-%d moved from live link %d to %d", u, home[u], now)
		case home[u] == 1:
			moved[now]++
		}
	}
	if moved[0] == 0 || moved[2] == 0 {
		t.Errorf("the users of the lost link moved to %v, want them spread over both others", moved)
	}
	for u := 0; u < users; u += 37 {
		if r := request(p, fmt.Sprintf("user-%d", u), "message:send", `{}`, 5*time.Second); r.err != nil {
			t.Errorf("user-%d with one instance down: %v", u, r.err)
		}
	}

	chats[1].start()
	waitUntil(t, "link 1 back", 5*time.Second, func() bool { return p.Up() == 3 })
	for u := range users {
		if now := p.linkOf(fmt.Sprintf("user-%d", u)); now != home[u] {
			t.Fatalf("user-%d on link %d after the instance came back, want %d", u, now, home[u])
		}
	}
}

// TestOneUsersCommandsStayOrdered sends one user's commands as fast as
// they come, without waiting for acks: chat-service receives them in the
// order they were sent.
func TestOneUsersCommandsStayOrdered(t *testing.T) {
	chats := []*chatServer{newChatServer(t, validToken), newChatServer(t, validToken)}
	p := newTestPool(t, chats[0].url(), chats[1].url())
	runPool(t, p)
	waitUntil(t, "two links", 5*time.Second, func() bool { return p.Up() == 2 })
	const n = 500
	acks := make(chan error, n)
	for i := range n {
		p.Send("user-ordered", "message:send", json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), 10*time.Second,
			func(_ json.RawMessage, err error) { acks <- err })
	}
	for range n {
		if err := <-acks; err != nil {
			t.Fatalf("command: %v", err)
		}
	}
	got := append(chats[0].messages(), chats[1].messages()...)
	if len(got) != n {
		t.Fatalf("chat-service received %d commands, want %d", len(got), n)
	}
	for i, m := range got {
		if v, _ := m.(map[string]any)["n"].(float64); int(v) != i {
			t.Fatalf("command %d arrived as number %d: out of order", int(v), i)
		}
	}
}

// linkOf returns the index of the link that serves key now, -1 if none.
func (p *Pool) linkOf(key string) int {
	c := p.pick(key)
	for i, l := range p.links {
		if c != nil && l.current() == c {
			return i
		}
	}
	return -1
}
