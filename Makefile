# Parley — one command to run the system, one to test it.
SHELL := /usr/bin/env bash
MODULES := shared gateway auth-service user-service chat-service e2e tools
INFRA := scripts/infra

.PHONY: up down infra test test-unit test-fault test-fuzz test-compat fuzz contract bench bench-messages bench-gateway build vet fmt

## up: start PostgreSQL, RabbitMQ, Elasticsearch, build and run all four services (Ctrl-C stops them)
up: infra
	@scripts/run

## down: stop Prometheus and the infrastructure (data kept under .local/)
down:
	@scripts/prometheus down
	@$(INFRA) down

infra:
	@$(INFRA) up

## build: build every service binary into bin/
build:
	@mkdir -p bin
	@for s in gateway auth-service user-service chat-service; do (cd $$s && go build -o ../bin/$$s ./cmd/$$s) || exit 1; done

## test: infrastructure + every module's tests with -race, a short run of every fuzz target, then the fault tests (which stop and kill components) one at a time
# Every phase runs even when an earlier one fails, so one run reports every
# failure. Nothing is ever run twice: a test that fails once is a failure.
test: infra
	@rc=0; $(MAKE) --no-print-directory test-unit || rc=1; \
	$(MAKE) --no-print-directory test-fuzz || rc=1; \
	$(MAKE) --no-print-directory test-fault || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see above)"; fi; exit $$rc

test-unit:
	@set -a; source .local/env; set +a; \
	if [ -f e2e/realtime/js/package-lock.json ]; then (cd e2e/realtime/js && npm ci --no-audit --no-fund --silent) || exit 1; fi; \
	(cd e2e/browser/js && npm ci --no-audit --no-fund --silent) || exit 1; \
	failed=""; \
	for m in $(MODULES); do echo "== $$m"; \
	  (cd $$m && go test -race -count=1 -timeout 15m ./...) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-unit: failures in:$$failed"; exit 1; fi

## test-fuzz: every native fuzz target for a few seconds (their seed corpora already ran in test-unit)
test-fuzz:
	@set -a; source .local/env; set +a; scripts/fuzz 500x

## test-compat: the e2e flow and realtime suites with each service's previous release (rebuilt from its recorded commit) beside the current others, and the other way round (COMPAT_SERVICES, COMPAT_SUITES, COMPAT_RUN narrow it); then a rolling upgrade from the previous releases to the current build under load
test-compat: infra
	@set -a; source .local/env; set +a; \
	(cd e2e/realtime/js && npm ci --no-audit --no-fund --silent) || exit 1; \
	cd e2e && go test -count=1 -tags compat -timeout $${COMPAT_TIMEOUT:-180m} -run '^(TestMixedVersions|TestRollingUpgrade)$$' -v ./compat/ 2>&1 | grep -Ev '^\s+--- PASS'; exit $${PIPESTATUS[0]}

## contract: the OpenAPI contract test (Schemathesis, every check) with CONTRACT_EXAMPLES per operation (make test runs it with 50)
CONTRACT_EXAMPLES ?= 100
contract: infra
	@set -a; source .local/env; set +a; \
	cd e2e && CONTRACT_EXAMPLES=$(CONTRACT_EXAMPLES) CONTRACT_TIMEOUT=$${CONTRACT_TIMEOUT:-15m} \
	  go test -count=1 -timeout 25m -run '^TestContract$$' -v ./contract/

## fuzz: every fuzz target for FUZZTIME each (default 5m)
FUZZTIME ?= 5m
fuzz: infra
	@set -a; source .local/env; set +a; scripts/fuzz $(FUZZTIME)

# The fault tests' verbose output (with the processes' logs of a failing
# test) is kept whole in .local/logs/test-fault.log; the summary lines are
# printed, and on a failure the log's tail too.
test-fault:
	@set -a; source .local/env; set +a; mkdir -p .local/logs; log=$$PWD/.local/logs/test-fault.log; \
	(cd e2e && go test -race -count=1 -p 1 -tags fault -timeout 30m -run 'Fault' -v ./fault/...) > $$log 2>&1; rc=$$?; \
	grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+\S+_test.go|.*figures)' $$log; \
	if [ $$rc -ne 0 ]; then echo "== test-fault failed: the last 300 lines of $$log"; tail -n 300 $$log; fi; exit $$rc

## chaos: the long chaos test (e2e/chaos TestChaos with -tags fault: service instances and also RabbitMQ and PostgreSQL, one fault at a time); CHAOS_DURATION (10m), CHAOS_INTERVAL (20s), CHAOS_CONVERSATIONS (100), CHAOS_RATE (300 msg/s), CHAOS_SEED; it stops and kills the shared infrastructure, so run it alone
CHAOS_DURATION ?= 10m
CHAOS_INTERVAL ?= 20s
CHAOS_CONVERSATIONS ?= 100
CHAOS_RATE ?= 300
chaos: infra
	@set -a; source .local/env; set +a; \
	cd e2e && CHAOS_DURATION=$(CHAOS_DURATION) CHAOS_INTERVAL=$(CHAOS_INTERVAL) CHAOS_CONVERSATIONS=$(CHAOS_CONVERSATIONS) CHAOS_RATE=$(CHAOS_RATE) \
	  go test -count=1 -tags fault -timeout 90m -run '^TestChaos$$' -v ./chaos/ 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+\S+\.go)' ; exit $${PIPESTATUS[0]}

## soak: steady traffic for SOAK_DURATION (30m) at SOAK_RATE (100 msg/s; set it to 80% of the sustained rate make bench-messages reports), checking that no socket is lost and goroutines, memory, file descriptors and sockets stay bounded (SOAK_SAMPLE, SOAK_CONVERSATIONS, SOAK_REFRESH); figures printed
SOAK_DURATION ?= 30m
SOAK_RATE ?= 100
soak: infra
	@set -a; source .local/env; set +a; \
	cd e2e && SOAK_DURATION=$(SOAK_DURATION) SOAK_RATE=$(SOAK_RATE) \
	  go test -count=1 -tags soak -timeout 0 -run '^TestSoak$$' -v ./chaos/ 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+\S+\.go)' ; exit $${PIPESTATUS[0]}

## bench: module micro-benchmarks, then the message path (Node socket.io-client load, baseline statement), gateway paths and idle sockets; default configuration, figures printed
bench: infra
	@set -a; source .local/env; set +a; \
	for m in shared auth-service chat-service gateway; do (cd $$m && go test -run '^$$' -bench . -benchtime 2s ./...) || exit 1; done; \
	(cd e2e/bench/js && npm ci --no-audit --no-fund --silent) || exit 1; \
	cd e2e && go test -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench/

## bench-messages: only the message path (shape: BENCH_* variables, see e2e/bench/params_test.go)
bench-messages: infra
	@set -a; source .local/env; set +a; (cd e2e/bench/js && npm ci --no-audit --no-fund --silent) && cd e2e && go test -run '^$$' -bench 'MessagePath' -benchtime 1x -timeout 45m ./bench/

## bench-gateway: only the gateway paths (direct, nginx, gateway) and idle socket memory
bench-gateway: infra
	@set -a; source .local/env; set +a; (cd e2e/bench/js && npm ci --no-audit --no-fund --silent) && cd e2e && go test -run '^$$' -bench 'GatewayPaths|IdleSockets' -benchtime 1x -timeout 30m ./bench/

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done
