// Package migrations embeds chat-service's SQL migrations, applied at start
// by shared/pgdb.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed *.sql
var files embed.FS

// FS returns the migration files at the root of the file system, as
// pgdb.Open expects.
func FS() fs.FS { return files }
