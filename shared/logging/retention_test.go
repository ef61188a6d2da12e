package logging

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestRetentionDeletesOnlyExpiredDailyIndices creates daily indices of a
// private prefix on the real Elasticsearch and checks that exactly the ones
// past the retention go, and that other prefixes are left alone.
func TestRetentionDeletesOnlyExpiredDailyIndices(t *testing.T) {
	url := esURL(t)
	prefix := "parley-rettest-" + uuid.NewString()[:8] + "-"
	s, err := NewShipper(ShipperConfig{URL: url, Service: "rettest", IndexPrefix: prefix, Template: []byte(`{"index_patterns":["` + prefix + `*"],"template":{}}`), RetentionDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = s.Close(ctx)
		_, _ = s.client.DeleteIndex(prefix + "*").Do(context.Background())
	})
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	days := map[string]bool{ // index day → expired on `now` with 7 days kept
		"2026.11.30": false, "2026.11.23": false, "2026.11.22": true, "2025.01.01": true,
	}
	ctx := context.Background()
	for d := range days {
		if _, err := s.client.CreateIndex(prefix + d).Do(ctx); err != nil {
			t.Fatal(err)
		}
	}
	other := "parley-rettest-other-" + uuid.NewString()[:8] + "-2020.01.01"
	if _, err := s.client.CreateIndex(other).Do(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.client.DeleteIndex(other).Do(context.Background()) })

	got := s.deleteExpired(now)
	slices.Sort(got)
	want := []string{prefix + "2025.01.01", prefix + "2026.11.22"}
	if !slices.Equal(got, want) {
		t.Fatalf("deleted %v, want %v", got, want)
	}
	for d, expired := range days {
		exists, err := s.client.IndexExists(prefix + d).Do(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if exists == expired {
			t.Errorf("index of %s exists = %v, want %v", d, exists, !expired)
		}
	}
	if ok, _ := s.client.IndexExists(other).Do(ctx); !ok {
		t.Errorf("an index of another prefix was deleted")
	}
}

func TestRecordTime(t *testing.T) {
	rec := []byte(`{"log.level":"info","@timestamp":"2026-11-30T23:59:59.5Z","message":"x"}`)
	if got := indexFor("p-", rec); got != "p-2026.11.30" {
		t.Errorf("indexFor = %s", got)
	}
	if got := recordTime([]byte(`{"message":"no time"}`)); time.Since(got) > time.Minute {
		t.Errorf("record without @timestamp dated %v, want now", got)
	}
}
