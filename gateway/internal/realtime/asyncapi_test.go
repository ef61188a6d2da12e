package realtime

import (
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/parleychat/parley/gateway/api"
)

// documentedCommands lists the Socket.IO event names of the AsyncAPI
// document's receive operations on the socket channel.
func documentedCommands(t *testing.T) []string {
	t.Helper()
	type ref struct {
		Ref string `yaml:"$ref"`
	}
	var doc struct {
		Channels map[string]struct {
			Messages map[string]ref `yaml:"messages"`
		} `yaml:"channels"`
		Operations map[string]struct {
			Action   string `yaml:"action"`
			Channel  ref    `yaml:"channel"`
			Messages []ref  `yaml:"messages"`
		} `yaml:"operations"`
		Components struct {
			Messages map[string]struct {
				Name string `yaml:"name"`
			} `yaml:"messages"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(api.AsyncAPI, &doc); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	var out []string
	for id, op := range doc.Operations {
		if op.Action != "receive" || op.Channel.Ref != "#/channels/socket" {
			continue
		}
		for _, m := range op.Messages {
			key := strings.TrimPrefix(m.Ref, "#/channels/socket/messages/")
			comp := strings.TrimPrefix(doc.Channels["socket"].Messages[key].Ref, "#/components/messages/")
			name := doc.Components.Messages[comp].Name
			if name == "" {
				t.Fatalf("operation %s: message %s has no name", id, m.Ref)
			}
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// TestEveryListenedEventIsDocumented reads the listeners a client socket
// really has once connected (every event the gateway accepts from a
// client) and holds them to the AsyncAPI document's commands, both ways.
func TestEveryListenedEventIsDocumented(t *testing.T) {
	r := newRig(t, Options{})
	r.wsConnect(t, "user-a", r.sessionToken("user-a", "s-doc"))
	// Socket.IO's own events, not commands a client can emit.
	reserved := map[string]bool{"disconnect": true, "disconnecting": true, "error": true}
	var listened []string
	waitFor(t, "the socket's listeners", func() bool {
		listened = listened[:0]
		done := false
		for _, e := range r.srv.registry.sockets("user-a") {
			for _, n := range e.sock.EventNames() {
				name := string(n)
				done = done || name == "disconnect" // registered last
				if !reserved[name] {
					listened = append(listened, name)
				}
			}
		}
		return done
	})
	slices.Sort(listened)
	listened = slices.Compact(listened)
	if len(listened) < 6 {
		t.Fatalf("a connected socket listens to %v; reading its listeners is broken", listened)
	}
	if documented := documentedCommands(t); !slices.Equal(listened, documented) {
		t.Errorf("a client socket listens to %v\nthe AsyncAPI document's commands are %v", listened, documented)
	}
}
