package logging

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/olivere/elastic/v7"
)

// DefaultQueueSize is how many log records are held while Elasticsearch is
// unreachable before new ones are dropped (and counted).
const DefaultQueueSize = 50_000

// IndexPrefix names the daily log indices: parley-logs-YYYY.MM.DD.
const IndexPrefix = "parley-logs-"

//go:embed index-template.json
var indexTemplate []byte

// DefaultRetentionDays is how many daily indices a shipper keeps.
const DefaultRetentionDays = 14

// ShipperConfig configures a Shipper.
type ShipperConfig struct {
	URL           string
	Service       string
	QueueSize     int
	FlushInterval time.Duration
	// IndexPrefix names the daily indices (prefix + YYYY.MM.DD); default
	// IndexPrefix, the log indices.
	IndexPrefix string
	// Template is the index template installed before the first record,
	// named after the prefix; default the ECS log template.
	Template []byte
	// RetentionDays: daily indices of this prefix older than this many days
	// are deleted (checked at start and hourly). Default DefaultRetentionDays.
	RetentionDays int
}

// ShipperStats is a snapshot of a Shipper's counters.
type ShipperStats struct {
	Queued  int   `json:"queued"`  // waiting in the queue now
	Shipped int64 `json:"shipped"` // indexed by Elasticsearch
	Dropped int64 `json:"dropped"` // refused because the queue was full
	Failed  int64 `json:"failed"`  // rejected by Elasticsearch (e.g. mapping errors)
	// Healthy is false while Elasticsearch is unreachable and for
	// RejectedUnhealthyFor after any record was refused (a mapping clash
	// loses records as surely as an outage does).
	Healthy   bool   `json:"healthy"`
	LastError string `json:"lastError,omitempty"`
}

// RejectedUnhealthyFor is how long the shipper reports itself unhealthy
// after Elasticsearch refused a record.
const RejectedUnhealthyFor = 5 * time.Minute

// Shipper sends log records to Elasticsearch. Write never blocks: records go
// into a bounded queue; one goroutine feeds them to an olivere BulkProcessor,
// which retries while Elasticsearch is down and so may block — only that
// goroutine waits, and the queue absorbs the backlog up to QueueSize.
type Shipper struct {
	queue   chan []byte
	client  *elastic.Client
	bulk    *elastic.BulkProcessor
	mu      sync.RWMutex // guards closed against Write racing Close
	closed  bool
	giveUp  atomic.Bool // set when Close runs out of time: stop retrying
	done    chan struct{}
	closeMu sync.Once

	accepted, shipped, dropped, failed atomic.Int64
	healthy                            atomic.Bool
	lastRejected                       atomic.Int64 // unix nanos of the last refused record
	lastErr                            atomic.Value // string
	templateOK                         atomic.Bool

	cfg           ShipperConfig
	stopRetention chan struct{}
}

// NewShipper creates a shipper and starts feeding Elasticsearch. It does not
// contact Elasticsearch synchronously: the index template is installed in
// the background as soon as Elasticsearch answers.
func NewShipper(cfg ShipperConfig) (*Shipper, error) {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.IndexPrefix == "" {
		cfg.IndexPrefix = IndexPrefix
	}
	if cfg.Template == nil {
		cfg.Template = indexTemplate
	}
	if cfg.RetentionDays <= 0 {
		cfg.RetentionDays = DefaultRetentionDays
	}
	client, err := elastic.NewClient(
		elastic.SetURL(cfg.URL),
		elastic.SetSniff(false),
		elastic.SetHealthcheck(false),
		elastic.SetHttpClient(&http.Client{Timeout: 10 * time.Second}),
		elastic.SetRetrier(elastic.NewStopRetrier()),
	)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	s := &Shipper{queue: make(chan []byte, cfg.QueueSize), client: client, done: make(chan struct{}), cfg: cfg, stopRetention: make(chan struct{})}
	s.lastErr.Store("")
	s.bulk, err = client.BulkProcessor().
		Name(cfg.IndexPrefix + cfg.Service).
		Workers(1).
		BulkActions(1000).
		BulkSize(4 << 20).
		FlushInterval(cfg.FlushInterval).
		// Retry a failed bulk until it succeeds or the shipper closes: the
		// processor keeps its requests across retries, so nothing is lost.
		Backoff(untilStopped{stop: &s.giveUp}).
		After(s.after).
		Do(context.Background())
	if err != nil {
		return nil, fmt.Errorf("elasticsearch bulk processor: %w", err)
	}
	go s.run()
	go s.retain()
	return s, nil
}

// Write implements io.Writer for zerolog; it copies p and never blocks.
func (s *Shipper) Write(p []byte) (int, error) {
	rec := make([]byte, len(p))
	copy(rec, p)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return len(p), nil
	}
	select {
	case s.queue <- rec:
		s.accepted.Add(1)
	default:
		s.dropped.Add(1)
	}
	return len(p), nil
}

func (s *Shipper) run() {
	defer close(s.done)
	for rec := range s.queue {
		if !s.templateOK.Load() {
			s.installTemplate()
		}
		s.bulk.Add(elastic.NewBulkCreateRequest().Index(indexFor(s.cfg.IndexPrefix, rec)).Doc(json.RawMessage(rec)))
	}
}

// installTemplate puts the ECS index template before the first record is
// indexed; when Elasticsearch is down the record is still queued and the
// template is tried again with the next one.
func (s *Shipper) installTemplate() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	name := strings.TrimSuffix(s.cfg.IndexPrefix, "-")
	_, err := s.client.IndexPutIndexTemplate(name).BodyString(string(s.cfg.Template)).Do(ctx)
	if err != nil {
		s.noteError(fmt.Errorf("install index template: %w", err))
		return
	}
	s.templateOK.Store(true)
}

func (s *Shipper) after(_ int64, reqs []elastic.BulkableRequest, res *elastic.BulkResponse, err error) {
	if err != nil {
		s.noteError(err)
		return
	}
	s.healthy.Store(true)
	if res == nil {
		return
	}
	failed := res.Failed()
	s.failed.Add(int64(len(failed)))
	s.shipped.Add(int64(len(reqs) - len(failed)))
	if len(failed) > 0 {
		s.lastRejected.Store(time.Now().UnixNano())
	}
	if len(failed) > 0 && failed[0].Error != nil {
		// A rejected record (e.g. a field whose type clashes with the
		// mapping) is not retried; say why so the clash can be fixed.
		s.lastErr.Store(fmt.Sprintf("record rejected: %s: %s", failed[0].Error.Type, failed[0].Error.Reason))
	}
}

func (s *Shipper) noteError(err error) {
	s.healthy.Store(false)
	s.lastErr.Store(err.Error())
}

// Stats returns the shipper's counters.
func (s *Shipper) Stats() ShipperStats {
	return ShipperStats{
		Queued:    len(s.queue),
		Shipped:   s.shipped.Load(),
		Dropped:   s.dropped.Load(),
		Failed:    s.failed.Load(),
		Healthy:   s.healthy.Load() && time.Since(time.Unix(0, s.lastRejected.Load())) > RejectedUnhealthyFor,
		LastError: s.lastErr.Load().(string),
	}
}

// Close stops accepting records and flushes the queue to Elasticsearch,
// waiting at most until ctx ends; what is still unsent then is counted as
// dropped and an error says how many.
func (s *Shipper) Close(ctx context.Context) error {
	var err error
	s.closeMu.Do(func() {
		close(s.stopRetention)
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
		flushed := make(chan error, 1)
		go func() {
			<-s.done
			flushed <- s.bulk.Close()
		}()
		select {
		case err = <-flushed:
		case <-ctx.Done():
			s.giveUp.Store(true)
			lost := s.accepted.Load() - s.shipped.Load() - s.failed.Load()
			s.dropped.Add(lost)
			err = fmt.Errorf("log shipper: flush unfinished, %d records dropped: %w", lost, ctx.Err())
		}
	})
	return err
}

// indexFor picks the daily index from the record's @timestamp.
func indexFor(prefix string, rec []byte) string {
	return prefix + recordTime(rec).UTC().Format("2006.01.02")
}

// recordTime reads a record's @timestamp without decoding the record (this
// runs for every record shipped); a record without one is dated now.
func recordTime(rec []byte) time.Time {
	const key = `"@timestamp":"`
	if i := bytes.Index(rec, []byte(key)); i >= 0 {
		rest := rec[i+len(key):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			if ts, err := time.Parse(time.RFC3339Nano, string(rest[:j])); err == nil {
				return ts
			}
		}
	}
	return time.Now()
}

// untilStopped is a constant backoff that gives up once the shipper closes.
type untilStopped struct{ stop *atomic.Bool }

func (b untilStopped) Next(int) (time.Duration, bool) {
	if b.stop.Load() {
		return 0, false
	}
	return 500 * time.Millisecond, true
}

var _ elastic.Backoff = untilStopped{}
