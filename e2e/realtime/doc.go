// Package realtime holds the end-to-end tests of Parley's real-time path
// (DESIGN §5, issue 5) on real stacks started by e2e/harness: delivery
// across two gateways and two chat-service instances, catch-up with sync,
// idempotent sends, the official JavaScript socket.io-client (js/, run with
// Node.js), refusals and flood control, and presence. Each test starts its
// own stack (fresh databases and RabbitMQ vhost) and never touches the
// shared infrastructure, so the package runs in make test's parallel phase.
package realtime
