package migrations

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/parleychat/parley/shared/outbox"
)

// The shared schemas are copied into SQL files (goose reads files); these
// tests fail when shared/ changes them and the copy is stale.
func TestSharedSchemasAreIncludedVerbatim(t *testing.T) {
	cases := []struct {
		file, schema, name string
	}{
		{"00001_chat.sql", outbox.Schema, "outbox.Schema"},
		{"00002_processed_events.sql", outbox.ProcessedSchema, "outbox.ProcessedSchema"},
		{"00007_outbox_published.sql", outbox.PublishedSchema, "outbox.PublishedSchema"},
	}
	for _, tc := range cases {
		raw, err := fs.ReadFile(FS(), tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), strings.TrimSpace(tc.schema)) {
			t.Errorf("%s does not contain %s verbatim; copy it again", tc.file, tc.name)
		}
	}
}
