// Package browser holds the browser tests of the reference web client
// (gateway/web/static): a real stack started by e2e/harness serves the
// client, and playwright-core (js/, run with Node.js) drives the system's
// Chromium through two users' browser contexts. The scenarios are in
// js/scenarios.mjs; the screenshots they take are kept as test artifacts
// (see artifactsDir). TestBrowserTokenExpiry runs a second stack whose
// session tokens live 6 s, for the client's refresh path.
package browser
