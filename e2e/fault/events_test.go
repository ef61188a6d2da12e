//go:build fault

package fault

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// signUpMany registers n users through the gateway with a few concurrent
// clients, calling during(i) after the i-th registration.
func signUpMany(t *testing.T, s *harness.Stack, n, workers int, during func(done int64)) {
	t.Helper()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				c := harness.NewClient(t, s.Gateway())
				name := fmt.Sprintf("f%s%05d", s.ID, i)
				r, err := c.DoErr(http.MethodPost, "/api/v1/auth/signup", map[string]string{
					"username": name, "email": name + "@example.com", "password": "fault tolerant " + name,
				})
				if err != nil || r.Status != http.StatusCreated {
					status := 0
					if r != nil {
						status = r.Status
					}
					errs <- fmt.Errorf("signup %s: status %d err %v", name, status, err)
					continue
				}
				during(done.Add(1))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func killBroker(t *testing.T, s *harness.Stack) {
	t.Helper()
	pid, err := strconv.Atoi(s.InfraCmd(t, "pid", "rabbitmq"))
	if err != nil {
		t.Fatalf("rabbitmq pid: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	t.Logf("killed RabbitMQ (pid %d) with SIGKILL", pid)
}

func waitProfiles(t *testing.T, s *harness.Stack, want int64, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	harness.Eventually(t, within, fmt.Sprintf("%d profiles", want), func() error {
		if n := s.Count(t, "user-service", `SELECT count(*) FROM profiles`); n != want {
			return fmt.Errorf("%d profiles", n)
		}
		return nil
	})
	return time.Since(start)
}

func checkExactlyOnce(t *testing.T, s *harness.Stack, want int64) {
	t.Helper()
	if n := s.Count(t, "user-service", `SELECT count(*) FROM profiles`); n != want {
		t.Errorf("profiles = %d, want %d", n, want)
	}
	if n := s.Count(t, "auth-service", `SELECT count(*) FROM users`); n != want {
		t.Errorf("users = %d, want %d", n, want)
	}
	if n := s.Count(t, "auth-service", `SELECT count(*) FROM outbox WHERE published_at IS NULL`); n != 0 {
		t.Errorf("unpublished outbox rows = %d, want 0", n)
	}
	// Each registration event was processed with effect exactly once.
	if n := s.Count(t, "user-service", `SELECT count(*) FROM processed_events`); n < want {
		t.Errorf("processed events = %d, want at least %d", n, want)
	}
	if n := s.Count(t, "user-service", `SELECT count(*) FROM (SELECT user_id FROM profiles GROUP BY user_id HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("users with more than one profile = %d", n)
	}
}

func TestFaultRegistrationsSurviveBrokerKills(t *testing.T) {
	s := harness.Start(t, harness.Options{})
	const users = 1000
	var kills atomic.Int32
	var lastBack atomic.Int64
	restart := make(chan struct{}, 2)
	var restarter sync.WaitGroup
	restarter.Go(func() {
		for range restart {
			killBroker(t, s)
			time.Sleep(2 * time.Second)
			s.InfraCmd(t, "start", "rabbitmq")
			lastBack.Store(time.Now().UnixNano())
		}
	})
	start := time.Now()
	signUpMany(t, s, users, 6, func(done int64) {
		if done == 300 || done == 700 {
			kills.Add(1)
			restart <- struct{}{}
		}
	})
	close(restart)
	restarter.Wait()
	t.Logf("figures: %d signups through the gateway in %s with RabbitMQ killed %d times", users, time.Since(start).Round(time.Millisecond), kills.Load())
	drain := waitProfiles(t, s, users, 3*time.Minute)
	sinceBack := time.Since(time.Unix(0, lastBack.Load()))
	t.Logf("figures: all %d profiles present %s after the last signup, %s after the broker's last return", users, drain.Round(time.Millisecond), sinceBack.Round(time.Millisecond))
	checkExactlyOnce(t, s, users)
}

func TestFaultUserServiceKilledMidBacklog(t *testing.T) {
	s := harness.Start(t, harness.Options{})
	const users = 500
	s.Users.Stop()
	signUpMany(t, s, users, 6, func(int64) {})
	s.Users.StartNoWait()
	harness.Eventually(t, 60*time.Second, "user-service consuming its backlog", func() error {
		if n := s.Count(t, "user-service", `SELECT count(*) FROM profiles`); n < 50 {
			return fmt.Errorf("%d profiles", n)
		}
		return nil
	})
	before := s.Count(t, "user-service", `SELECT count(*) FROM profiles`)
	s.Users.Kill()
	t.Logf("figures: killed user-service with SIGKILL after %d of %d profiles", before, users)
	restarted := time.Now()
	s.Users.Start()
	waitProfiles(t, s, users, 3*time.Minute)
	t.Logf("figures: backlog drained %s after the restart", time.Since(restarted).Round(time.Millisecond))
	checkExactlyOnce(t, s, users)
}
