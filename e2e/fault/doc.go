// Package fault holds the tests that stop, kill and restart the shared
// infrastructure (PostgreSQL, RabbitMQ, Elasticsearch) and service
// processes. They are built only with -tags fault and run one at a time
// after every other test (make test-fault), because they disturb what other
// packages' tests use.
package fault
