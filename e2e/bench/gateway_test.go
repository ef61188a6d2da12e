package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
	"github.com/parleychat/parley/shared/token"
)

// BenchmarkGatewayPaths measures one cheap authenticated GET
// (/api/v1/users/me, a primary-key read) over three paths in one run, on
// a stack in its default configuration:
//
//   - direct: straight to user-service with an internal token minted here;
//   - nginx: through nginx (Debian's package, configured here: keep-alive
//     upstream, a pre-minted internal token added to every request);
//   - gateway: through the gateway with the user's session cookie.
//
// Per round, paths interleaved: wrk closed loop, 2 threads, at
// BENCH_GW_CONNS connections and at 2× and 4× that; then hey at a fixed
// BENCH_GW_RATE req/s. It prints medians over BENCH_GW_ROUNDS rounds, the
// ratios, and proxy CPU per request. nginx, wrk and hey are installed with
// apt-get when missing. Run it once (-benchtime 1x).
func BenchmarkGatewayPaths(b *testing.B) {
	p := loadParams(b)
	rounds := envInt(b, "BENCH_GW_ROUNDS", 3)
	conns := envInt(b, "BENCH_GW_CONNS", 32)
	rate := envFloat(b, "BENCH_GW_RATE", 1000)
	d := envDuration(b, "BENCH_GW_FOR", 10*time.Second)
	if rounds < 1 || conns < 1 || rate <= 0 || d > 45*time.Second {
		b.Fatalf("BENCH_GW_ROUNDS, BENCH_GW_CONNS and BENCH_GW_RATE must be positive, BENCH_GW_FOR at most 45s (an internal token lives a minute)")
	}
	nginxBin, wrk, hey := ensureTools(b)
	s := startStack(b, p, 1, 1)
	user := harness.NewClient(b, s.Gateway()).SignUp()
	loggedIn := time.Now()
	// The session token lives 15 minutes: log in again well before, so a
	// long run never measures 401s.
	session := func() string {
		if time.Since(loggedIn) > 5*time.Minute {
			user.Do(http.MethodPost, "/api/v1/auth/login", map[string]string{"login": user.Login, "password": user.Pass}).Expect(b, http.StatusOK, "login")
			loggedIn = time.Now()
		}
		return cookie(user)
	}
	me := "/api/v1/users/me"
	// user-service learns the user from auth-service's event.
	harness.Eventually(b, 20*time.Second, "user-service knows the user", func() error {
		r, err := user.DoErr(http.MethodGet, me, nil)
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK {
			return fmt.Errorf("status %d: %s", r.Status, r.Body)
		}
		return nil
	})
	priv, err := token.LoadPrivateKey(s.Infra.InternalKey)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := token.NewSigner(priv, token.IssuerGateway)
	if err != nil {
		b.Fatal(err)
	}
	// Internal tokens live at most a minute: a fresh one for every run.
	mint := func() string {
		t, err := signer.Internal(user.UserID, token.AudienceUsers, token.MaxInternalTTL)
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
	pg := infraPid(s.Infra.Script, "pg")
	base := []component{
		{"user-service", pidList(s.Users.Pid())},
		{"postgres", func() []int { return postgresPids(pg, stackDBs(s)) }},
	}
	if p.ShipLogs {
		// Every service ships its request log lines there: the gateway
		// path logs twice per request (gateway and user-service).
		es := infraPid(s.Infra.Script, "es")
		base = append(base, component{"elastic", func() []int { return tree(es) }})
	}
	type path struct {
		name  string
		run   func(func(url string, header []string, comps []component) httpRun) httpRun
		proxy string // the component that is the proxy ("" for direct)
	}
	gwComps := append([]component{{"proxy", pidList(s.Gateways[0].Pid())}}, base...)
	paths := []path{
		{"direct", func(f func(string, []string, []component) httpRun) httpRun {
			return f(s.Users.URL()+me, []string{"Authorization: Bearer " + mint()}, base)
		}, ""},
		{"nginx", func(f func(string, []string, []component) httpRun) httpRun {
			n := startNginx(b, nginxBin, s.Users.Addr, mint())
			defer n.stop()
			comps := append([]component{{"proxy", func() []int { return tree(n.cmd.Process.Pid) }}}, base...)
			return f("http://"+n.addr+me, nil, comps)
		}, "nginx"},
		{"gateway", func(f func(string, []string, []component) httpRun) httpRun {
			return f(s.Gateway()+me, []string{"Cookie: " + session()}, gwComps)
		}, "gateway"},
	}
	// Every path answers 200 before anything is measured.
	for _, pa := range paths {
		pa.run(func(url string, header []string, _ []component) httpRun {
			checkOK(b, pa.name, url, header)
			return httpRun{}
		})
	}
	levels := []int{conns, 2 * conns, 4 * conns}
	closed := map[string]map[int][]httpRun{}
	fixed := map[string][]httpRun{}
	for _, pa := range paths {
		closed[pa.name] = map[int][]httpRun{}
	}
	for round := range rounds {
		for _, c := range levels {
			for _, pa := range paths {
				// With BENCH_PROFILE, the gateway path's first closed-loop
				// run is profiled (gateway and user-service).
				wait := func() {}
				if round == 0 && c == conns && pa.name == "gateway" {
					wait = profileProcesses(b, map[string]*harness.Process{"gateway": s.Gateways[0], "user-service": s.Users}, "gateway-paths", "closed", d)
				}
				closed[pa.name][c] = append(closed[pa.name][c], pa.run(func(url string, h []string, comps []component) httpRun {
					return runWrk(b, wrk, url, h, c, d, comps)
				}))
				wait()
			}
		}
		for _, pa := range paths {
			fixed[pa.name] = append(fixed[pa.name], pa.run(func(url string, h []string, comps []component) httpRun {
				return runHey(b, hey, url, h, rate, 50, d, comps)
			}))
		}
	}
	printGatewayTable(os.Stdout, p, rounds, d, rate, levels, closed, fixed)
}

// checkOK fails the benchmark unless url answers 200 with header.
func checkOK(b *testing.B, name, url string, header []string) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for _, h := range header {
		for i := range h {
			if h[i] == ':' {
				req.Header.Set(h[:i], h[i+2:])
				break
			}
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: GET %s answered %d: %s", name, url, resp.StatusCode, body)
	}
}

// median of f over runs.
func median(runs []httpRun, f func(httpRun) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// perRequest is a component's CPU per answered request, in µs.
func perRequest(name string) func(httpRun) float64 {
	return func(r httpRun) float64 {
		if r.requests == 0 {
			return 0
		}
		return float64(r.cpu.by[name]) / float64(time.Microsecond) / float64(r.requests)
	}
}

func printGatewayTable(w io.Writer, p params, rounds int, d time.Duration, rate float64, levels []int,
	closed map[string]map[int][]httpRun, fixed map[string][]httpRun) {
	names := []string{"direct", "nginx", "gateway"}
	fmt.Fprintf(w, "\n== gateway paths: GET /api/v1/users/me (a primary-key read), medians of %d rounds, paths interleaved, %s per run ==\n", rounds, d)
	fmt.Fprintf(w, "direct = user-service with an internal token minted here; nginx = Debian nginx, keep-alive upstream, pre-minted internal token added,\n"+
		"access log on; gateway = session cookie. Every service in its default configuration (logs shipped: %v). %s\n\n",
		p.ShipLogs, "Load tools share the machine's CPUs.")
	fmt.Fprintf(w, "%-44s %14s %14s %14s %10s %10s\n", "figure", "direct", "nginx", "gateway", "gw/direct", "gw/nginx")
	row := func(label string, v map[string]float64, ratio bool, format string) {
		fmt.Fprintf(w, "%-44s", label)
		for _, n := range names {
			fmt.Fprintf(w, " %14s", fmt.Sprintf(format, v[n]))
		}
		if ratio && v["direct"] > 0 && v["nginx"] > 0 {
			fmt.Fprintf(w, " %9.2f× %9.2f×", v["gateway"]/v["direct"], v["gateway"]/v["nginx"])
		}
		fmt.Fprintln(w)
	}
	for _, c := range levels {
		rps, lat, bad := map[string]float64{}, map[string]string{}, map[string]float64{}
		for _, n := range names {
			rs := closed[n][c]
			rps[n] = median(rs, func(r httpRun) float64 { return r.rps })
			lat[n] = fmt.Sprintf("%.1f / %.1f", median(rs, func(r httpRun) float64 { return r.p50 }), median(rs, func(r httpRun) float64 { return r.p99 }))
			for _, r := range rs {
				bad[n] += float64(r.bad)
			}
		}
		row(fmt.Sprintf("closed loop req/s (wrk, 2 threads, %d conns)", c), rps, true, "%.0f")
		fmt.Fprintf(w, "%-44s %14s %14s %14s\n", "  p50 / p99 ms", lat["direct"], lat["nginx"], lat["gateway"])
		if bad["direct"]+bad["nginx"]+bad["gateway"] > 0 {
			row("  failed requests (all rounds)", bad, false, "%.0f")
		}
	}
	p50, p99, got, bad := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, n := range names {
		p50[n] = median(fixed[n], func(r httpRun) float64 { return r.p50 })
		p99[n] = median(fixed[n], func(r httpRun) float64 { return r.p99 })
		got[n] = median(fixed[n], func(r httpRun) float64 { return r.rps })
		for _, r := range fixed[n] {
			bad[n] += float64(r.bad)
		}
	}
	row(fmt.Sprintf("p50 ms at a fixed %.0f req/s (hey, 50 conns)", rate), p50, false, "%.1f")
	row("  p99 ms", p99, false, "%.1f")
	row("  achieved req/s", got, false, "%.0f")
	if bad["direct"]+bad["nginx"]+bad["gateway"] > 0 {
		row("  failed requests (all rounds)", bad, false, "%.0f")
	}
	fmt.Fprintf(w, "%-44s %14s %14s %14s\n", "  added p99 over direct, ms", "-",
		fmt.Sprintf("%+.1f", p99["nginx"]-p99["direct"]), fmt.Sprintf("%+.1f", p99["gateway"]-p99["direct"]))
	cpuRow := func(label, comp string, runs func(n string) []httpRun) {
		v := map[string]float64{}
		for _, n := range names {
			v[n] = median(runs(n), perRequest(comp))
		}
		fmt.Fprintf(w, "%-44s", label)
		for _, n := range names {
			if comp == "proxy" && n == "direct" {
				fmt.Fprintf(w, " %14s", "-")
				continue
			}
			fmt.Fprintf(w, " %14.0f", v[n])
		}
		if comp == "proxy" && v["nginx"] > 0 {
			fmt.Fprintf(w, " %10s %9.2f×", "", v["gateway"]/v["nginx"])
		}
		fmt.Fprintln(w)
	}
	cpuRow(fmt.Sprintf("proxy CPU µs/request, closed loop (%d conns)", levels[0]), "proxy", func(n string) []httpRun { return closed[n][levels[0]] })
	cpuRow(fmt.Sprintf("proxy CPU µs/request, fixed %.0f req/s", rate), "proxy", func(n string) []httpRun { return fixed[n] })
	cpuRow(fmt.Sprintf("user-service CPU µs/request (%d conns)", levels[0]), "user-service", func(n string) []httpRun { return closed[n][levels[0]] })
	cpuRow(fmt.Sprintf("postgres CPU µs/request (%d conns)", levels[0]), "postgres", func(n string) []httpRun { return closed[n][levels[0]] })
	if p.ShipLogs {
		cpuRow(fmt.Sprintf("elasticsearch CPU µs/request (%d conns)", levels[0]), "elastic", func(n string) []httpRun { return closed[n][levels[0]] })
	}
}
