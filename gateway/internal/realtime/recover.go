package realtime

import (
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

// recoverCommand, deferred by a command's handler, answers a panic with the
// generic 500 problem, as REST answers one, and logs it with its stack:
// the Socket.IO library would otherwise swallow the panic, and the client's
// ack would never come.
func (s *Server) recoverCommand(event string, tc trace.Context, ack socket.Ack) {
	r := recover()
	if r == nil {
		return
	}
	logging.ErrorFields(s.log.Error(), fmt.Errorf("panic: %v", r)).Bytes("error.stack_trace", debug.Stack()).
		Str("trace.id", tc.TraceID).Str("socketio.event", event).Msg("command handler panicked")
	if ack != nil {
		ack(failedAck(link.Failed(problem.ErrInternal.Public(tc.TraceID))), nil)
	}
}

// recoverEvent, deferred by the handler of an event without an ack, logs
// a panic with its stack and drops the event.
func (s *Server) recoverEvent(event string) {
	if r := recover(); r != nil {
		logging.ErrorFields(s.log.Error(), fmt.Errorf("panic: %v", r)).Bytes("error.stack_trace", debug.Stack()).
			Str("socketio.event", event).Msg("event handler panicked")
	}
}

// onceAck makes ack answer at most once, so a panic after the answer went
// out cannot send a second one.
func onceAck(ack socket.Ack) socket.Ack {
	if ack == nil {
		return nil
	}
	var once sync.Once
	return func(args []any, err error) { once.Do(func() { ack(args, err) }) }
}
