package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/parleychat/parley/gateway/internal/config"
	"github.com/parleychat/parley/shared/httpserver"
)

// serve runs the public server through shared/httpserver: plain HTTP, or
// HTTPS when TLS_CERT and TLS_KEY are set.
func serve(ctx context.Context, cfg config.Config, h http.Handler, ready func(net.Addr)) error {
	if !cfg.TLS() {
		return httpserver.Run(ctx, cfg.HTTPAddr, h, cfg.ShutdownTimeout, ready)
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("TLS_CERT/TLS_KEY: %w", err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return httpserver.RunTLS(ctx, cfg.HTTPAddr, h, cfg.ShutdownTimeout, tlsCfg, ready)
}
