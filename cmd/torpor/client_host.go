package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/host/admin"
)

func newHostCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host",
		Short: "List the hosts of the cluster",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the cluster's hosts with their state, addresses, version, live objects and connections",
		Args:  exactArgs(0),
		RunE:  cf.action(listHosts),
	})
	return cmd
}

func listHosts(ctx context.Context, e *clientEnv, _ []string) error {
	hosts, err := e.api.Hosts(ctx)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.stdout, admin.HostList{Hosts: hosts})
	}
	t := newTable(e.stdout, "NAME", "ID", "STATE", "PUBLIC URL", "ADMIN URL", "VERSION", "STARTED", "LIVE OBJECTS", "CONNS")
	for _, h := range hosts {
		t.row(h.Name, orDash(h.ID), orDash(h.State), orDash(h.PublicURL), orDash(h.AdminURL), orDash(h.Version), timeText(&h.Started), strconv.Itoa(h.LiveObjects), strconv.Itoa(h.Conns))
	}
	return t.flush()
}
