package api

import (
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
)

// SocketChannel is the AsyncAPI channel of the Socket.IO namespace /.
const SocketChannel = "#/channels/socket"

// SocketEventNames lists, sorted, the Socket.IO event names (the messages'
// name) of the AsyncAPI document's operations on the Socket.IO channel with
// action: "receive" for the commands clients emit, "send" for the events
// the gateway emits.
func SocketEventNames(action string) ([]string, error) {
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
	if err := yaml.Unmarshal(AsyncAPI, &doc); err != nil {
		return nil, fmt.Errorf("asyncapi.yaml: %w", err)
	}
	var out []string
	for id, op := range doc.Operations {
		if op.Action != action || op.Channel.Ref != SocketChannel {
			continue
		}
		for _, m := range op.Messages {
			key, _ := strings.CutPrefix(m.Ref, SocketChannel+"/messages/")
			comp, _ := strings.CutPrefix(doc.Channels["socket"].Messages[key].Ref, "#/components/messages/")
			name := doc.Components.Messages[comp].Name
			if name == "" {
				return nil, fmt.Errorf("asyncapi.yaml: operation %s: message %s has no name", id, m.Ref)
			}
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
