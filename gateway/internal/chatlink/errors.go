package chatlink

import (
	"encoding/json"

	"github.com/parleychat/parley/shared/sioclient"
)

var (
	// ErrUnavailable is the error of a command that found no connected
	// link, or whose link ended before chat-service answered.
	ErrUnavailable = sioclient.ErrUnavailable
	// ErrTimeout is the error of a command chat-service did not answer
	// within its timeout.
	ErrTimeout = sioclient.ErrTimeout
)

// Reply receives a command's answer: the ACK packet's arguments as a JSON
// array, or ErrUnavailable or ErrTimeout. It runs once, on a goroutine of
// the connection (it must not block).
type Reply = func(args json.RawMessage, err error)
