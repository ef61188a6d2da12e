package sioclient

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// Frames recorded from the Socket.IO server chat-service runs (handshake,
// refusal, admission, ack), plus the shapes the protocol allows that it
// does not happen to send.
const (
	recordedOpen    = `0{"maxPayload":1000000,"pingInterval":25000,"pingTimeout":20000,"sid":"-O2MbdqoySR99AAAAAAAAAAA","upgrades":[]}`
	recordedRefusal = `44{"data":{"code":"unauthorized"},"message":"unauthorized"}`
	recordedAdmit   = `40{"sid":"5aP99IW6SlkhoQAAAAAAAAAD"}`
	recordedAck     = `431[{"echo":{"data":{"body":"hi"},"token":"u","traceparent":""},"ok":true}]`
)

func TestParseOpen(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		want    openPacket
		wantErr bool
	}{
		{"recorded", recordedOpen, openPacket{SID: "-O2MbdqoySR99AAAAAAAAAAA", PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1000000}, false},
		{"node server field order", `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`,
			openPacket{SID: "lv_VI97HAXpY6yYWAAAC", PingInterval: 300, PingTimeout: 200, MaxPayload: 1000000}, false},
		{"not an open packet", `40{"sid":"x"}`, openPacket{}, true},
		{"no sid", `0{"pingInterval":1,"pingTimeout":1}`, openPacket{}, true},
		{"no heartbeat", `0{"sid":"x"}`, openPacket{}, true},
		{"not JSON", `0{sid`, openPacket{}, true},
		{"empty", ``, openPacket{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOpen([]byte(tc.frame))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseOpen(%q) error %v, want error %v", tc.frame, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, errMalformed) {
				t.Errorf("error %v does not wrap errMalformed", err)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("parseOpen(%q) = %+v, want %+v", tc.frame, got, tc.want)
			}
		})
	}
	o, _ := parseOpen([]byte(recordedOpen))
	if got, want := o.silence(), 46*time.Second; got != want {
		t.Errorf("silence %s, want pingInterval+pingTimeout+repong = %s", got, want)
	}
	if got, want := o.repong(), time.Second; got != want {
		t.Errorf("repong %s, want at most 1s", got)
	}
}

func TestParsePacket(t *testing.T) {
	tests := []struct {
		name    string
		frame   string // an Engine.IO message frame, with its '4'
		want    packet
		wantErr bool
	}{
		{"admission", recordedAdmit, packet{Type: packetConnect, Data: json.RawMessage(`{"sid":"5aP99IW6SlkhoQAAAAAAAAAD"}`)}, false},
		{"refusal", recordedRefusal, packet{Type: packetConnectError, Data: json.RawMessage(`{"data":{"code":"unauthorized"},"message":"unauthorized"}`)}, false},
		{"ack", recordedAck, packet{Type: packetAck, ID: 1, HasID: true, Data: json.RawMessage(`[{"echo":{"data":{"body":"hi"},"token":"u","traceparent":""},"ok":true}]`)}, false},
		{"large ack id", `4318446744073709551615[]`, packet{Type: packetAck, ID: 18446744073709551615, HasID: true, Data: json.RawMessage(`[]`)}, false},
		{"disconnect", `41`, packet{Type: packetDisconnect}, false},
		{"event without ack", `42["presence",{"n":1}]`, packet{Type: packetEvent, Data: json.RawMessage(`["presence",{"n":1}]`)}, false},
		{"explicit default namespace", `43/,7[true]`, packet{Type: packetAck, ID: 7, HasID: true, Data: json.RawMessage(`[true]`)}, false},
		{"other namespace", `40/admin,{"sid":"x"}`, packet{}, true},
		{"namespace without comma", `40/admin`, packet{}, true},
		{"binary event", `451-["x",{"_placeholder":true,"num":0}]`, packet{}, true},
		{"unknown type", `49`, packet{}, true},
		{"data not JSON", `431[{`, packet{}, true},
		{"id overflow", `43184467440737095516150[]`, packet{}, true},
		{"empty", `4`, packet{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePacket([]byte(tc.frame)[1:])
			if (err != nil) != tc.wantErr {
				t.Fatalf("parsePacket(%q) error %v, want error %v", tc.frame, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, errMalformed) {
				t.Errorf("error %v does not wrap errMalformed", err)
			}
			if tc.wantErr {
				return
			}
			if got.Type != tc.want.Type || got.ID != tc.want.ID || got.HasID != tc.want.HasID || string(got.Data) != string(tc.want.Data) {
				t.Errorf("parsePacket(%q) = {%c %d %v %s}, want {%c %d %v %s}", tc.frame,
					got.Type, got.ID, got.HasID, got.Data, tc.want.Type, tc.want.ID, tc.want.HasID, tc.want.Data)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	connect, err := appendConnect(nil, map[string]string{"token": "a.b.c"})
	if err != nil {
		t.Fatal(err)
	}
	arg := json.RawMessage(`{"token":"u","traceparent":"","data":{"body":"hi"}}`)
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"connect with auth", connect, `40{"token":"a.b.c"}`},
		{"event with ack id", appendEvent(nil, "message:send", arg, 1, true), `421["message:send",{"token":"u","traceparent":"","data":{"body":"hi"}}]`},
		{"event without ack", appendEvent(nil, "typing", json.RawMessage(`{}`), 0, false), `42["typing",{}]`},
		{"large id", appendEvent([]byte("x"), "sync", json.RawMessage(`null`), 1234567890123, true), `x421234567890123["sync",null]`},
	}
	for _, tc := range tests {
		if string(tc.got) != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	// What is written parses back as the same packet.
	p, err := parsePacket(appendEvent(nil, "message:send", arg, 42, true)[1:])
	if err != nil || p.Type != packetEvent || p.ID != 42 || string(p.Data) != `["message:send",`+string(arg)+`]` {
		t.Errorf("round trip: %+v, %v", p, err)
	}
}

func TestSocketURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8083", "ws://127.0.0.1:8083/socket.io/?EIO=4&transport=websocket"},
		{"https://chat.internal/", "wss://chat.internal/socket.io/?EIO=4&transport=websocket"},
		{"http://chat:8083/base", "ws://chat:8083/base/socket.io/?EIO=4&transport=websocket"},
	}
	for _, tc := range tests {
		if got, err := socketURL(tc.in); err != nil || got != tc.want {
			t.Errorf("socketURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := socketURL("ftp://x"); err == nil {
		t.Error("socketURL accepted an ftp URL")
	}
}
