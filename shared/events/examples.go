package events

import (
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Golden examples: one envelope per routing key in testdata/<key>.json.
// They are the contract between producers and consumers: every consumer's
// tests decode every example it consumes, and the examples of an old
// version stay here when a new one is added.
//
//go:embed testdata/*.json
var examplesFS embed.FS

// Example is the golden example envelope of one event version.
type Example struct {
	RoutingKey string // e.g. auth.user.registered.v1
	Body       []byte // the envelope as published
}

// Examples returns every golden example, sorted by routing key.
func Examples() []Example {
	entries, err := examplesFS.ReadDir("testdata")
	if err != nil {
		panic(fmt.Sprintf("events: embedded examples: %v", err)) // embedded at build time
	}
	out := make([]Example, 0, len(entries))
	for _, e := range entries {
		body, err := examplesFS.ReadFile(path.Join("testdata", e.Name()))
		if err != nil {
			panic(fmt.Sprintf("events: embedded example %s: %v", e.Name(), err))
		}
		out = append(out, Example{RoutingKey: strings.TrimSuffix(e.Name(), ".json"), Body: body})
	}
	slices.SortFunc(out, func(a, b Example) int { return strings.Compare(a.RoutingKey, b.RoutingKey) })
	return out
}

// ExampleFor returns the golden example envelope for routingKey.
func ExampleFor(routingKey string) (Envelope, bool) {
	for _, ex := range Examples() {
		if ex.RoutingKey == routingKey {
			env, err := Decode(ex.Body)
			return env, err == nil
		}
	}
	return Envelope{}, false
}

// payloadTypes maps every routing key Parley publishes to its payload type.
var payloadTypes = map[string]func() any{
	TypeUserRegistered + ".v1":      func() any { return new(UserRegisteredV1) },
	TypeSessionRevoked + ".v1":      func() any { return new(SessionRevokedV1) },
	TypePasswordChanged + ".v1":     func() any { return new(PasswordChangedV1) },
	TypeProfileUpdated + ".v1":      func() any { return new(ProfileUpdatedV1) },
	TypeMessageCreated + ".v1":      func() any { return new(Delivery) },
	TypeMessageUpdated + ".v1":      func() any { return new(Delivery) },
	TypeMessageDeleted + ".v1":      func() any { return new(Delivery) },
	TypeReactionChanged + ".v1":     func() any { return new(Delivery) },
	TypeConversationCreated + ".v1": func() any { return new(Delivery) },
	TypeConversationUpdated + ".v1": func() any { return new(Delivery) },
	TypeConversationRead + ".v1":    func() any { return new(Delivery) },
	TypeMembersChanged + ".v1":      func() any { return new(Delivery) },
	TypeTyping + ".v1":              func() any { return new(Delivery) },
	TypePresence + ".v1":            func() any { return new(Delivery) },
	TypeGatewayPresence + ".v1":     func() any { return new(GatewayPresenceV1) },
	TypeSessionRefreshed + ".v1":    func() any { return new(SessionRefreshedV1) },
}

// NewPayload returns a pointer to a new zero value of the payload type
// published under routingKey.
func NewPayload(routingKey string) (any, bool) {
	f, ok := payloadTypes[routingKey]
	if !ok {
		return nil, false
	}
	return f(), true
}

// RoutingKeys lists every routing key Parley publishes, sorted.
func RoutingKeys() []string {
	keys := make([]string, 0, len(payloadTypes))
	for k := range payloadTypes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
