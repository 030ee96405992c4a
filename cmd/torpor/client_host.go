package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/host/admin"
)

func newHostCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host",
		Short: "List the hosts of the cluster",
	}
	var wait time.Duration
	drain := &cobra.Command{
		Use:   "drain NAME",
		Short: "Move a host's objects, with their storage and snapshots, to the other hosts, and stop it taking clients",
		Long: `Move every object of the host NAME (its name or id in host list) to the
other serving hosts, each with its record, storage and snapshot. From the
start the host takes no new clients (503 with Retry-After) and its sockets
close with 1012 (service restart), so that their clients reconnect through
other hosts. With --wait, wait until host list shows it drained.`,
		Args: exactArgs(1),
		RunE: cf.action(func(ctx context.Context, e *clientEnv, args []string) error {
			return drainHost(ctx, e, args[0], wait)
		}),
	}
	drain.Flags().DurationVar(&wait, "wait", 0, "wait this long for the drain to finish (0: only start it)")
	cmd.AddCommand(drain)
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

func drainHost(ctx context.Context, e *clientEnv, name string, wait time.Duration) error {
	st, err := e.api.Drain(ctx, name)
	if err != nil {
		return err
	}
	if wait <= 0 {
		fmt.Fprintf(e.stdout, "%s is draining; see torpor host list\n", st.Name)
		return nil
	}
	deadline := time.Now().Add(wait)
	for {
		hosts, err := e.api.Hosts(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(hosts, func(h admin.HostStatus) bool { return h.ID == st.ID })
		switch {
		case i < 0:
			return fmt.Errorf("%s left the cluster before it was drained", st.Name)
		case hosts[i].State == "drained":
			fmt.Fprintf(e.stdout, "%s drained\n", st.Name)
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%s still %s after %s (it goes on; see torpor host list and its log)", st.Name, hosts[i].State, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
