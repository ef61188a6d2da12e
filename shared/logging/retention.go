package logging

import (
	"context"
	"strings"
	"time"
)

// retain deletes this shipper's daily indices once they are older than the
// retention, at start and then hourly, until the shipper closes. Every
// instance of every service may do it: deleting an index twice is harmless.
func (s *Shipper) retain() {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		s.deleteExpired(time.Now())
		select {
		case <-s.stopRetention:
			return
		case <-tick.C:
		}
	}
}

// deleteExpired removes the indices named prefix+YYYY.MM.DD whose day ended
// more than RetentionDays ago, and returns their names. Errors (Elasticsearch
// down) are left for the next round.
func (s *Shipper) deleteExpired(now time.Time) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names, err := s.client.IndexNames()
	if err != nil {
		return nil
	}
	cutoff := now.UTC().AddDate(0, 0, -s.cfg.RetentionDays)
	var expired []string
	for _, n := range names {
		day, ok := strings.CutPrefix(n, s.cfg.IndexPrefix)
		if !ok {
			continue
		}
		t, err := time.Parse("2006.01.02", day)
		if err != nil || !t.AddDate(0, 0, 1).Before(cutoff) {
			continue
		}
		expired = append(expired, n)
	}
	if len(expired) == 0 {
		return nil
	}
	if _, err := s.client.DeleteIndex(expired...).Do(ctx); err != nil {
		return nil
	}
	return expired
}
