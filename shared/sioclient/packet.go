package sioclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Engine.IO v4 packet types, the first byte of every WebSocket frame.
const (
	engineOpen    = '0'
	engineClose   = '1'
	enginePing    = '2'
	enginePong    = '3'
	engineMessage = '4'
)

// Socket.IO v5 packet types, the byte after an Engine.IO message's '4'.
const (
	packetConnect      = '0'
	packetDisconnect   = '1'
	packetEvent        = '2'
	packetAck          = '3'
	packetConnectError = '4'
	packetBinaryEvent  = '5'
	packetBinaryAck    = '6'
)

// errMalformed marks a frame this client cannot parse; the connection that
// sent it is closed.
var errMalformed = errors.New("sioclient: malformed frame")

// openPacket is the server's Engine.IO handshake.
type openPacket struct {
	SID          string `json:"sid"`
	PingInterval int64  `json:"pingInterval"` // milliseconds
	PingTimeout  int64  `json:"pingTimeout"`  // milliseconds
	MaxPayload   int64  `json:"maxPayload"`
}

// silence is how long the connection may go without a frame from the
// server before it is presumed dead: the server pings every pingInterval
// (counted from the last pong, which may be the second one, repong later)
// and allows pingTimeout for the answer, so a live server is heard from
// within their sum.
func (o openPacket) silence() time.Duration {
	return time.Duration(o.PingInterval+o.PingTimeout)*time.Millisecond + o.repong()
}

// repong is how long after a ping the second pong goes (see
// conn.pongAgain): well after the server armed its timeout, well before it
// fires.
func (o openPacket) repong() time.Duration {
	return min(time.Duration(o.PingTimeout)*time.Millisecond/2, time.Second)
}

// parseOpen decodes an Engine.IO open frame ("0{...}").
func parseOpen(frame []byte) (openPacket, error) {
	var o openPacket
	if len(frame) == 0 || frame[0] != engineOpen {
		return o, fmt.Errorf("%w: want an open packet, got %q", errMalformed, clip(frame))
	}
	if err := json.Unmarshal(frame[1:], &o); err != nil {
		return o, fmt.Errorf("%w: open packet: %v", errMalformed, err)
	}
	if o.SID == "" || o.PingInterval <= 0 || o.PingTimeout <= 0 {
		return o, fmt.Errorf("%w: open packet without sid or heartbeat: %q", errMalformed, clip(frame))
	}
	return o, nil
}

// packet is one Socket.IO packet in the default namespace. Data is the
// packet's JSON (an object for CONNECT and CONNECT_ERROR, an array for
// EVENT and ACK) without decoding it.
type packet struct {
	Type  byte
	ID    uint64
	HasID bool
	Data  json.RawMessage
}

// parsePacket decodes the Socket.IO part of an Engine.IO message frame
// (the frame without its leading '4'). Packets for another namespace are
// refused: the link only ever joins "/".
func parsePacket(b []byte) (packet, error) {
	var p packet
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty packet", errMalformed)
	}
	p.Type = b[0]
	if p.Type < packetConnect || p.Type > packetBinaryAck {
		return p, fmt.Errorf("%w: packet type %q", errMalformed, p.Type)
	}
	rest := b[1:]
	if p.Type == packetBinaryEvent || p.Type == packetBinaryAck {
		return p, fmt.Errorf("%w: binary packets are not used on the link", errMalformed)
	}
	if len(rest) > 0 && rest[0] == '/' {
		i := bytes.IndexByte(rest, ',')
		if i < 0 || string(rest[:i]) != "/" {
			return p, fmt.Errorf("%w: namespace in %q", errMalformed, clip(b))
		}
		rest = rest[i+1:]
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n > 0 {
		id, err := strconv.ParseUint(string(rest[:n]), 10, 64)
		if err != nil {
			return p, fmt.Errorf("%w: packet id: %v", errMalformed, err)
		}
		p.ID, p.HasID = id, true
		rest = rest[n:]
	}
	if len(rest) > 0 {
		if !json.Valid(rest) {
			return p, fmt.Errorf("%w: packet data is not JSON: %q", errMalformed, clip(b))
		}
		p.Data = rest
	}
	return p, nil
}

// appendConnect appends the frame of a CONNECT to "/" with auth (none
// when nil).
func appendConnect(dst []byte, auth any) ([]byte, error) {
	if auth == nil {
		return append(dst, engineMessage, packetConnect), nil
	}
	raw, err := json.Marshal(auth)
	if err != nil {
		return nil, err
	}
	dst = append(dst, engineMessage, packetConnect)
	return append(dst, raw...), nil
}

// appendEvent appends the frame of EVENT [name, arg] to "/" ([name] when
// arg is empty), with an ack id when withID is set. arg is written as
// given.
func appendEvent(dst []byte, name string, arg json.RawMessage, id uint64, withID bool) []byte {
	dst = append(dst, engineMessage, packetEvent)
	if withID {
		dst = strconv.AppendUint(dst, id, 10)
	}
	dst = append(dst, '[')
	name8, _ := json.Marshal(name) // a string always marshals
	dst = append(dst, name8...)
	if len(arg) > 0 {
		dst = append(dst, ',')
		dst = append(dst, arg...)
	}
	return append(dst, ']')
}

// ConnectError is a refusal by the server (a CONNECT_ERROR packet):
// Message is its message, Data its data (raw JSON, possibly empty) and
// Code the data's "code" when it has one.
type ConnectError struct {
	Message string
	Code    string
	Data    json.RawMessage
}

func (e *ConnectError) Error() string {
	if e.Code != "" {
		return "sioclient: connect refused: " + e.Message + " (" + e.Code + ")"
	}
	return "sioclient: connect refused: " + e.Message
}

// parseConnectError decodes a CONNECT_ERROR's data into a *ConnectError.
func parseConnectError(data json.RawMessage) error {
	var raw struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%w: connect error: %v", errMalformed, err)
	}
	e := &ConnectError{Message: raw.Message, Data: raw.Data}
	var code struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(raw.Data, &code) == nil {
		e.Code = code.Code
	}
	return e
}

// clip shortens a frame for an error message.
func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
