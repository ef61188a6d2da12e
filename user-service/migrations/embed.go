// Package migrations holds user-service's SQL schema, embedded so the binary
// applies it at start without any files beside it.
package migrations

import "embed"

// FS holds the goose migration files at its root.
//
//go:embed *.sql
var FS embed.FS
