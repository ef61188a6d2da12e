package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/e2e/harness"
)

// TestPrometheusScrapesEveryService runs a real Prometheus (Debian's
// package, installed by scripts/infra) with the project's rules against a
// stack's ops addresses, drives one signup and one message through the
// gateway, and asks Prometheus's HTTP API for a live series from each
// service.
func TestPrometheusScrapesEveryService(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: scripts/infra up installs it")
	}
	s := harness.Start(t, harness.Options{})
	c := harness.NewClient(t, s.Gateway()).SignUp()
	peer := harness.NewClient(t, s.Gateway()).SignUp()
	convID := directWhenKnown(t, c, peer)
	c.Do(http.MethodPost, "/api/v1/conversations/"+convID+"/messages", map[string]any{"clientMsgId": uuid.NewString(), "body": "hi"}).
		Expect(t, http.StatusCreated, "send")
	peer.Do(http.MethodGet, "/api/v1/users/me", nil).Expect(t, http.StatusOK, "profile")

	promURL := startPrometheus(t, bin, map[string]*harness.Process{
		"gateway": s.Gateways[0], "auth-service": s.Auth, "user-service": s.Users, "chat-service": s.Chats[0],
	})
	for _, job := range []string{"gateway", "auth-service", "user-service", "chat-service"} {
		q := fmt.Sprintf(`sum(parley_http_requests_total{job=%q})`, job)
		harness.Eventually(t, 30*time.Second, job+" series in Prometheus", func() error {
			v, err := promQuery(promURL, q)
			if err != nil {
				return err
			}
			if v <= 0 {
				return fmt.Errorf("%s = %v", q, v)
			}
			t.Logf("%s = %v", q, v)
			return nil
		})
	}
	// The project's rules are loaded and evaluate.
	resp, err := http.Get(promURL + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rules struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rules); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health == "err" {
				t.Errorf("rule %s/%s fails to evaluate", g.Name, r.Name)
			}
		}
	}
	if n < 10 {
		t.Errorf("Prometheus loaded %d rules, want every rule of infra/prometheus", n)
	}
}

// startPrometheus runs Prometheus on a free port with infra/prometheus's
// rules and one job per process, scraping its ops address every second.
func startPrometheus(t *testing.T, bin string, jobs map[string]*harness.Process) string {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [recording.rules.yml, alerts.rules.yml]\nscrape_configs:\n")
	for job, p := range jobs {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs: [{targets: ['%s']}]\n", job, p.OpsAddr)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"recording.rules.yml", "alerts.rules.yml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "infra", "prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := harness.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	u := "http://" + addr
	harness.Eventually(t, 20*time.Second, "prometheus ready", func() error {
		r, err := http.Get(u + "/-/ready")
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			return fmt.Errorf("ready: %d", r.StatusCode)
		}
		return nil
	})
	return u
}

// promQuery evaluates an instant query that yields one number.
func promQuery(base, q string) (float64, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	if len(body.Data.Result) == 0 {
		return 0, fmt.Errorf("%s: no series yet", q)
	}
	var v float64
	s, _ := body.Data.Result[0].Value[1].(string)
	if _, err := fmt.Sscan(s, &v); err != nil {
		return 0, err
	}
	return v, nil
}
