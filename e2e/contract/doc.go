// Package contract holds the property-based contract test: Schemathesis
// generates requests from gateway/api/openapi.yaml and runs them against a
// real stack (harness.Start) with a signed-in session and an allowed Origin,
// every check enabled. Any finding fails the test: a schema-valid request
// refused, a schema-violating one accepted, an undocumented status, header or
// body, or a 5xx.
//
// hooks.py signs the run in (and again after a 401, e.g. once the run has
// called logout) and builds well-formed page cursors; schemathesis.toml
// makes the stateful phase follow the document's own links and counts 422
// (an id in a body naming nothing) as a valid request's answer.
//
// Run it alone (PostgreSQL, RabbitMQ and Elasticsearch up, .local/env sourced):
//
//	cd e2e && go test -count=1 -run TestContract -v ./contract/
//
// CONTRACT_EXAMPLES sets the examples per operation (default 50) and
// CONTRACT_TIMEOUT bounds the Schemathesis run (default 6m); CONTRACT_SEED
// replays a run. Schemathesis and its dependencies, pinned in
// requirements.txt, are installed on first use into a virtual environment
// under the user cache directory (parley/schemathesis-<hash of
// requirements.txt>), so a change of pins gets a fresh one.
package contract
