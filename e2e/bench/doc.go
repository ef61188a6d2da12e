// Package bench measures Parley end to end on a real stack: Socket.IO
// clients send through the gateway to chat-service, which stores each
// message and relays it through RabbitMQ back to the gateway and the other
// user. It prints figures; it asserts nothing about speed.
//
//	make bench    (or: cd e2e && go test -run '^$' -bench . -benchtime 1x ./bench/)
package bench
