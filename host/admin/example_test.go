package admin_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/admin"
)

// Serve the admin API on its own loopback listener, apart from the public
// WebSocket gateway.
func ExampleNew() {
	h, err := host.New(host.Options{DataDir: "/var/lib/torpor"})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close(context.Background())
	srv := &http.Server{
		Addr: "127.0.0.1:8444",
		Handler: admin.New(h, admin.Options{
			Token: os.Getenv("TORPOR_ADMIN_TOKEN"),
			Self:  admin.HostInfo{AdminURL: "http://127.0.0.1:8444", Version: "v0.1.0"},
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}

// Walk every live object of a plugin, a page at a time, and evict the idle
// ones.
func ExampleClient() {
	ctx := context.Background()
	c := admin.NewClient("http://127.0.0.1:8444", os.Getenv("TORPOR_ADMIN_TOKEN"), nil)
	f := host.ObjectFilter{Plugin: "chat", State: host.StateLive, Limit: 500}
	for {
		page, err := c.Objects(ctx, f)
		var apiErr *admin.APIError
		if errors.As(err, &apiErr) {
			log.Fatalf("the host refused: %d: %s", apiErr.Status, apiErr.Message)
		} else if err != nil {
			log.Fatal(err)
		}
		for _, o := range page.Objects {
			if o.Conns == 0 {
				res, err := c.Evict(ctx, host.ObjectID{Plugin: o.Plugin, Name: o.Name}, admin.EvictRequest{})
				if err != nil {
					log.Fatal(err)
				}
				fmt.Println("evicted", res.Evicted)
			}
		}
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
}
