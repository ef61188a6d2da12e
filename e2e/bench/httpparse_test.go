package bench

import "testing"

// Reports as wrk 4.1 and hey 0.1.4 (Debian bookworm) print them.
const (
	wrkReport = `Running 1s test @ http://127.0.0.1:18777/nope
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    42.10ms   74.03ms 290.90ms   83.73%
    Req/Sec   775.25    700.53     1.85k    75.00%
  Latency Distribution
     50%  850.00us
     75%   49.25ms
     90%  171.68ms
     99%    1.27s
  680 requests in 1.10s, 345.31KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:    620.73
Transfer/sec:    315.21KB
`
	heyReport = `
Summary:
  Total:	1.0098 secs
  Requests/sec:	29.7098

Latency distribution:
  10% in 0.0025 secs
  50% in 0.0034 secs
  90% in 0.0161 secs
  99% in 0.0210 secs

Status code distribution:
  [200]	18 responses
  [503]	2 responses

Error distribution:
  [12]	Get "http://127.0.0.1:18777/": dial tcp 127.0.0.1:18777: connect: connection refused
  [1]	Get "http://127.0.0.1:18777/": context deadline exceeded
`
)

func TestParseLoadReports(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  httpRun
		want httpRun
	}{
		{"wrk", parseWrk(wrkReport), httpRun{rps: 620.73, p50: 0.85, p99: 1270, requests: 680, bad: 10}},
		{"hey", parseHey(heyReport), httpRun{rps: 29.7098, p50: 3.4, p99: 21, requests: 33, bad: 15}},
	} {
		g, w := tc.got, tc.want
		if g.rps != w.rps || g.requests != w.requests || g.bad != w.bad || !near(g.p50, w.p50) || !near(g.p99, w.p99) {
			t.Errorf("%s: got rps %v p50 %v p99 %v requests %d bad %d; want rps %v p50 %v p99 %v requests %d bad %d",
				tc.name, g.rps, g.p50, g.p99, g.requests, g.bad, w.rps, w.p50, w.p99, w.requests, w.bad)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
