// Package httpserver runs a service's HTTP server with sane timeouts and a
// bounded graceful shutdown, and serves /healthz and /readyz.
package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Run serves h on addr until ctx ends, then stops accepting, lets in-flight
// requests finish for up to grace, and returns. ready, if not nil, receives
// the bound address once listening (useful with port 0 in tests).
func Run(ctx context.Context, addr string, h http.Handler, grace time.Duration, ready func(net.Addr)) error {
	return run(ctx, addr, h, grace, nil, ready)
}

// RunTLS is Run over HTTPS: same timeouts and shutdown, with the
// certificates (and any other settings) of cfg, which must hold at least one
// certificate or a GetCertificate/GetConfigForClient callback. Only the public edge needs it;
// internal services speak plain HTTP on loopback or a private network.
func RunTLS(ctx context.Context, addr string, h http.Handler, grace time.Duration, cfg *tls.Config, ready func(net.Addr)) error {
	if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil) {
		return errors.New("httpserver: RunTLS needs a TLS config with a certificate")
	}
	return run(ctx, addr, h, grace, cfg, ready)
}

// run serves plain HTTP when tlsCfg is nil, HTTPS otherwise.
func run(ctx context.Context, addr string, h http.Handler, grace time.Duration, tlsCfg *tls.Config, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if tlsCfg != nil {
		// A clone: the HTTP/2 set-up of ServeTLS may adjust the server's
		// config, and the caller's must stay as it was.
		srv.TLSConfig = tlsCfg.Clone()
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			// Empty file names: the certificates come from TLSConfig.
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
