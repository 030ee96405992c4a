package cluster

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the cluster's membership and relay to Prometheus; pass
// it to host/metrics.Handler beside the host's own.
func (c *Cluster) Collector() prometheus.Collector { return &collector{c: c} }

type collector struct{ c *Cluster }

var (
	membersDesc = prometheus.NewDesc("torpor_cluster_members",
		"Live members of the cluster, this host included.", nil, nil)
	relayMessagesDesc = prometheus.NewDesc("torpor_cluster_relay_messages_total",
		"NATS messages of relayed sockets this host sent: kind batch (home to gateway, one per event and gateway host however many of its sockets receive the frames) or frame (gateway to home, one per client frame).",
		[]string{"kind"}, nil)
	relaySessionsDesc = prometheus.NewDesc("torpor_cluster_relay_sessions",
		"Relayed sockets open: side gateway (held here, object elsewhere) or home (object here, socket elsewhere).",
		[]string{"side"}, nil)
)

func (*collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- membersDesc
	ch <- relayMessagesDesc
	ch <- relaySessionsDesc
}

func (k *collector) Collect(ch chan<- prometheus.Metric) {
	s := &k.c.relay.stats
	ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(len(k.c.Members())))
	ch <- prometheus.MustNewConstMetric(relayMessagesDesc, prometheus.CounterValue, float64(s.Batches.Load()), "batch")
	ch <- prometheus.MustNewConstMetric(relayMessagesDesc, prometheus.CounterValue, float64(s.FramesIn.Load()), "frame")
	ch <- prometheus.MustNewConstMetric(relaySessionsDesc, prometheus.GaugeValue, float64(s.Sessions.Load()), "gateway")
	ch <- prometheus.MustNewConstMetric(relaySessionsDesc, prometheus.GaugeValue, float64(s.Served.Load()), "home")
}
