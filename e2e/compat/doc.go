// Package compat holds the tests of releases against each other: a service
// binary stamped with a version says so in /healthz and in every log record
// (run by make test), and, under the build tag compat (make test-compat),
// the end-to-end flow and realtime suites run with the previous release of
// one service beside the current build of the others, and the other way
// round, for every service; and a stack of the previous releases is
// upgraded to the current build one instance at a time under chat and REST
// traffic (TestRollingUpgrade).
package compat
