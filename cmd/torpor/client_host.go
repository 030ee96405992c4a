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
		Short: "List the hosts serving objects",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List hosts with their addresses, version and live objects",
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
	t := newTable(e.stdout, "NAME", "PUBLIC URL", "ADMIN URL", "VERSION", "STARTED", "LIVE OBJECTS")
	for _, h := range hosts {
		t.row(h.Name, orDash(h.PublicURL), orDash(h.AdminURL), orDash(h.Version), timeText(&h.Started), strconv.Itoa(h.LiveObjects))
	}
	return t.flush()
}
