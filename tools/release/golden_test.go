package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// oldReader is a program built inside a released shared: it reads golden
// examples with that release's own readers (events.Decode, DecodeData into
// events.NewPayload, json into link.Envelope and link.Ack), each example as
// written and with the fields a newer peer could add, and prints one line
// per example.
const oldReader = `package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/link"
)

func newer(body []byte, nested string) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return body
	}
	var inner map[string]json.RawMessage
	if raw, ok := top[nested]; ok && json.Unmarshal(raw, &inner) == nil {
		inner["fromANewerRelease"] = json.RawMessage(` + "`{\"x\":[1,\"y\"]}`" + `)
		top[nested], _ = json.Marshal(inner)
	}
	top["fromANewerRelease"] = json.RawMessage(` + "`\"x\"`" + `)
	top["newerCount"] = json.RawMessage(` + "`3`" + `)
	out, _ := json.Marshal(top)
	return out
}

func readEvent(body []byte) (any, error) {
	env, err := events.Decode(body)
	if err != nil {
		return nil, err
	}
	payload, ok := events.NewPayload(env.RoutingKey())
	if !ok {
		return "new routing key " + env.RoutingKey(), nil // never bound by this release's consumers
	}
	if err := env.DecodeData(payload); err != nil {
		return nil, err
	}
	env.Data = nil
	return []any{env, payload}, nil
}

func readLink(name string, body []byte) (any, error) {
	if strings.HasPrefix(name, "ack.") {
		var a link.Ack
		err := json.Unmarshal(body, &a)
		return a, err
	}
	var e link.Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, err
	}
	var data any
	err := json.Unmarshal(e.Data, &data)
	return []any{e.Token, e.Traceparent, data}, err
}

// generic is v as plain JSON values, so raw payloads compare by content.
func generic(v any) any {
	raw, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

func main() {
	failed := false
	for i, dir := range os.Args[1:] {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(paths) == 0 {
			fmt.Printf("FAIL %s: no examples\n", dir)
			failed = true
		}
		for _, p := range paths {
			body, err := os.ReadFile(p)
			name := strings.TrimSuffix(filepath.Base(p), ".json")
			var a, b any
			var err2 error
			if err == nil && i == 0 {
				a, err = readEvent(body)
				b, err2 = readEvent(newer(body, "data"))
			} else if err == nil {
				a, err = readLink(name, body)
				b, err2 = readLink(name, newer(body, "error"))
			}
			switch {
			case err != nil:
				fmt.Printf("FAIL %s: %v\n", p, err)
				failed = true
			case err2 != nil:
				fmt.Printf("FAIL %s with a newer peer's fields: %v\n", p, err2)
				failed = true
			case !reflect.DeepEqual(generic(a), generic(b)):
				fmt.Printf("FAIL %s: a newer peer's fields changed what is read\n", p)
				failed = true
			default:
				fmt.Printf("ok %s\n", p)
			}
		}
	}
	if failed {
		os.Exit(1)
	}
}
`

// TestPreviousSharedReadsCurrentExamples builds the readers of the last
// released shared from its recorded commit (git history, not the working
// tree) and has them read the working tree's golden events and link
// messages: what the current code writes is understood by the release
// before it, also with fields it has never heard of.
func TestPreviousSharedReadsCurrentExamples(t *testing.T) {
	root := repoRoot(t)
	rec, err := LoadRecord(root, SharedModule)
	if err != nil {
		t.Fatal(err)
	}
	prev, ok := rec.Latest()
	if !ok {
		t.Fatal("shared has no release")
	}
	work := t.TempDir()
	if err := extract(root, prev.Commit, SharedModule, work); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(work, SharedModule, "internal", "oldreader")
	if err := os.MkdirAll(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prog, "main.go"), []byte(oldReader), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./internal/oldreader",
		filepath.Join(root, SharedModule, "events", "testdata"), filepath.Join(root, SharedModule, "link", "testdata"))
	cmd.Dir, cmd.Env = filepath.Join(work, SharedModule), buildEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("shared %s (%.12s) reading the current examples: %v\n%s", prev.Version, prev.Commit, err, out)
	}
	if n := strings.Count(string(out), "ok "); n < 20 {
		t.Fatalf("only %d examples read:\n%s", n, out)
	}
	t.Logf("shared %s read %d current examples", prev.Version, strings.Count(string(out), "ok "))
}
