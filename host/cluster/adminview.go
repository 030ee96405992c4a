package cluster

import (
	"context"

	"github.com/torpor-dev/torpor/host/admin"
)

// AdminView is the cluster as host/admin's Options.Cluster takes it.
func (c *Cluster) AdminView() admin.Cluster { return adminView{c} }

type adminView struct{ c *Cluster }

func (v adminView) Members() []admin.HostStatus {
	ms := v.c.Members()
	out := make([]admin.HostStatus, len(ms))
	for i, m := range ms {
		out[i] = admin.HostStatus{
			HostInfo: admin.HostInfo{
				Name: m.Name, PublicURL: m.PublicURL, AdminURL: m.AdminURL,
				Version: m.Version, Started: m.Started,
			},
			ID:          m.ID,
			State:       m.State,
			LiveObjects: m.Objects,
			Conns:       m.Conns,
		}
	}
	return out
}

func (v adminView) Forward(ctx context.Context, id string, call admin.ForwardedCall) (int, []byte, error) {
	ans, err := v.c.Forward(ctx, id, Call{Method: call.Method, Path: call.Path, Query: call.Query, Body: call.Body})
	return ans.Status, ans.Body, err
}

func (v adminView) PublishPlugin(ctx context.Context, name string, wasm []byte) error {
	return v.c.PublishPlugin(ctx, name, wasm)
}

func (v adminView) Drain() error { return v.c.Drain() }

func (v adminView) WithdrawPlugin(ctx context.Context, name string) error {
	return v.c.WithdrawPlugin(ctx, name)
}
