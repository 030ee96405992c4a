package loadgen

import (
	"testing"
	"time"
)

func TestServerReport(t *testing.T) {
	res := &Result{Connect: ConnectReport{Conns: 100}, Deliveries: DeliveryReport{Received: 1000}}
	before := ProcSample{CPU: time.Second, RSS: 100 << 20}
	connected := ProcSample{CPU: 2 * time.Second, RSS: 110 << 20}
	end := ProcSample{CPU: 3 * time.Second, RSS: 120 << 20}
	s := serverReport(1, before, connected, end, res)
	if s.CPUPerConnUs != 10000 || s.CPUPerDeliveryUs != 1000 || s.RSSPerConn != float64(20<<20)/100 || s.RSSShrank {
		t.Fatalf("report %+v", s)
	}
	// A server giving back memory of earlier work: no figure, and says so.
	end.RSS = 90 << 20
	if s := serverReport(1, before, connected, end, res); s.RSSPerConn != 0 || !s.RSSShrank {
		t.Fatalf("shrinking server: %+v", s)
	}
}
