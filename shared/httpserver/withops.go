package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// RunWithOps serves h on addr and ops (see OpsHandler) on opsAddr, each as
// Run does, until ctx ends. The ops listener starts first and ready, if not
// nil, receives both bound addresses once both listen. If either listener
// fails, the other stops too and the error is returned: a service never
// runs without its probes and metrics, nor keeps them up once it has
// stopped serving.
func RunWithOps(ctx context.Context, addr string, h http.Handler, opsAddr string, ops http.Handler, grace time.Duration, ready func(public, ops net.Addr)) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	opsListening := make(chan net.Addr, 1)
	opsDone := make(chan error, 1)
	go func() {
		err := Run(ctx, opsAddr, ops, grace, func(a net.Addr) { opsListening <- a })
		if err != nil {
			err = fmt.Errorf("ops address: %w", err)
			stop()
		}
		opsDone <- err
	}()
	var opsBound net.Addr
	select {
	case opsBound = <-opsListening:
	case err := <-opsDone:
		return err
	}
	err := Run(ctx, addr, h, grace, func(a net.Addr) {
		if ready != nil {
			ready(a, opsBound)
		}
	})
	stop()
	return errors.Join(err, <-opsDone)
}
