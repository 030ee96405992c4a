package gateway_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/gateway"
)

// A server for rooms over wss, stopped in order: the HTTP server first (no
// new requests; handshakes in progress finish), then the gateway (sockets
// closed with 1001, each object told), then the host (objects hibernated
// to the store).
func Example() {
	h, err := host.New(host.Options{DataDir: "/var/lib/torpor"})
	if err != nil {
		log.Fatal(err)
	}
	g := gateway.New(h, gateway.Options{AllowedOrigins: []string{"https://example.com"}})
	mux := http.NewServeMux()
	mux.Handle("/", g) // /{plugin}/{object}; the host's own routes live under /_
	srv := &http.Server{
		Addr:    ":8443",
		Handler: mux,
		// Without it a client may open connections and never finish a
		// request. It bounds the TLS handshake too.
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.ListenAndServeTLS("cert.pem", "key.pem"); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	_ = g.Shutdown(shutdown)
	_ = h.Close(shutdown)
}
