// Package bench measures Parley on real stacks in their default
// configuration (nothing relaxed: flood control on, log level info, logs
// shipped as `make up` does) and prints figures beside baselines measured
// in the same run. It asserts nothing about speed.
//
//   - BenchmarkMessagePath: the message path with the official
//     socket.io-client 4.8 (Node.js, js/load.mjs, a load process outside the
//     measured services) in three shapes (200 groups of one sender and one
//     receiver; one hot group of 25 senders; the spread on 2 gateways × 2
//     chat-services): fixed 500 and 1,000 msg/s, a ramp to the highest
//     sustained rate, an overload burst at twice it; CPU per component per
//     message from /proc; and the plain server's one statement
//     (baselineInsert) on the same PostgreSQL as the baseline.
//   - BenchmarkGatewayPaths: GET /api/v1/users/me direct to user-service,
//     through nginx and through the gateway (wrk closed loop, hey at a
//     fixed rate), with proxy CPU per request.
//   - BenchmarkIdleSockets: the gateway's resident memory per authenticated
//     idle socket (2,000 by default), beside a plain Node socket.io 4.8
//     server (js/plain-server.mjs) holding the same sockets.
//
// Shapes, rates and durations are BENCH_* environment variables (see
// params and BenchmarkGatewayPaths). Run from e2e with the infrastructure's
// environment loaded:
//
//	set -a; source ../.local/env; set +a
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./bench/
//	go test -run '^$' -bench 'MessagePath/(baseline|spread)$' -benchtime 1x ./bench/
package bench
