package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// MetricsTimeout bounds one scrape of the metrics endpoint of its own.
const MetricsTimeout = 10 * time.Second

// ServeMetrics serves h (the node's Prometheus metrics) as GET /metrics on
// the TCP address addr (config.yaml's metrics.listen) until ctx is done or
// the returned server is closed. No address, no listener: it returns nil.
func ServeMetrics(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (*http.Server, error) {
	if addr == "" {
		return nil, nil
	}
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s in %s: %w", addr, "config.yaml", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: http.TimeoutHandler(mux, MetricsTimeout, "scrape timed out"), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "addr", addr, "err", err)
		}
	}()
	log.Info("serving metrics", "addr", l.Addr().String())
	return srv, nil
}
