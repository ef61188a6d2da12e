package logging

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/rs/zerolog"
)

// uniqueKeys sits in front of every log output and guarantees that a record
// never carries the same top-level field twice. zerolog only appends, so a
// field set on a child logger (With) and again on the event is written twice,
// and Elasticsearch refuses such a document: the record is lost exactly when
// it matters. Records without duplicates, nearly all of them, pass through
// after one scan; the rare one with duplicates is rewritten keeping the
// last value, the most specific.
type uniqueKeys struct{ next io.Writer }

// Write implements io.Writer.
func (u uniqueKeys) Write(p []byte) (int, error) {
	if !hasDuplicateKeys(p) {
		return u.next.Write(p)
	}
	if fixed, ok := dedupe(p); ok {
		if _, err := u.next.Write(fixed); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return u.next.Write(p)
}

// WriteLevel lets zerolog's level-aware writers (the multi writer) see the
// level through this wrapper.
func (u uniqueKeys) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if lw, ok := u.next.(levelWriter); ok {
		if hasDuplicateKeys(p) {
			if fixed, ok := dedupe(p); ok {
				if _, err := lw.WriteLevel(l, fixed); err != nil {
					return 0, err
				}
				return len(p), nil
			}
		}
		return lw.WriteLevel(l, p)
	}
	return u.Write(p)
}

// hasDuplicateKeys scans one JSON object's top-level keys without decoding
// values. Anything that is not a plain object reports false.
func hasDuplicateKeys(p []byte) bool {
	var seen [48][]byte // records carry a few dozen fields at most
	keys := seen[:0]
	depth, inString, escaped, expectKey := 0, false, false, false
	keyStart := -1
	for i, c := range p {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if keyStart >= 0 {
					k := p[keyStart:i]
					for _, prev := range keys {
						if bytes.Equal(prev, k) {
							return true
						}
					}
					keys = append(keys, k)
					keyStart = -1
				}
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			if depth == 1 && expectKey {
				keyStart = i + 1
				expectKey = false
			}
		case '{', '[':
			depth++
			if depth == 1 && c == '{' {
				expectKey = true
			}
		case '}', ']':
			depth--
		case ',':
			if depth == 1 {
				expectKey = true
			}
		}
	}
	return false
}

// dedupe rewrites one JSON object keeping the last value of each key, in the
// order keys first appeared, followed by the record's line ending.
func dedupe(p []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var order []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range order {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vals[k])
	}
	b.WriteByte('}')
	if bytes.HasSuffix(p, []byte("\n")) {
		b.WriteByte('\n')
	}
	return b.Bytes(), true
}

// levelWriter is zerolog.LevelWriter's one method that matters here.
type levelWriter interface {
	WriteLevel(zerolog.Level, []byte) (int, error)
}
