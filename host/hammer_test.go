package host_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torpor-dev/torpor/abi"
	"github.com/torpor-dev/torpor/host"
)

// Hammer one object from every side at once: clients connecting, sending and
// leaving, an operator inspecting, listing and evicting, and an idle time so
// short that the object hibernates and wakes all the while. Run under -race,
// this is the test of the mailbox and of the registry's retire path; at the
// end not one acknowledged increment may be missing.
func TestHammerOneObject(t *testing.T) {
	for _, p := range counters {
		t.Run(p.name, func(t *testing.T) {
			h := newHost(t, host.Options{Idle: 2 * time.Millisecond})
			deploy(t, h, "counter", p.build)
			id := host.ObjectID{Plugin: "counter", Name: "hammered"}
			var acked atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for round := range 15 {
						c, err := tryConnect(h, id.String(), "")
						if err != nil {
							t.Errorf("worker %d round %d: %v", w, round, err)
							return
						}
						for range 5 {
							ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
							err := c.sess.Message(ctx, abi.Text, []byte("inc"))
							cancel()
							if err != nil {
								t.Errorf("send: %v", err)
								return
							}
							select {
							case f := <-c.Frames:
								if _, err := strconv.Atoi(string(f.Data)); err != nil {
									t.Errorf("reply %q", f.Data)
									return
								}
								acked.Add(1)
							case <-time.After(10 * time.Second):
								t.Error("no reply")
								return
							}
						}
						c.sess.Close(context.Background(), 1000, "bye")
					}
				}()
			}
			var ops sync.WaitGroup
			ops.Add(1)
			go func() {
				defer ops.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ctx := context.Background()
					switch i % 3 {
					case 0:
						h.Evict(ctx, id, host.EvictOptions{})
					case 1:
						h.Object(ctx, id)
					case 2:
						h.Objects(host.ObjectFilter{Plugin: "counter"})
					}
					time.Sleep(time.Millisecond)
				}
			}()
			wg.Wait()
			close(stop)
			ops.Wait()
			c := connect(t, h, id.String(), "")
			if got, want := c.ask(t, "get"), fmt.Sprint(acked.Load()); got != want {
				t.Fatalf("count = %s, acknowledged increments = %s", got, want)
			}
		})
	}
}
