package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/host"
	"github.com/torpor-dev/torpor/host/admin"
	"github.com/torpor-dev/torpor/internal/bytesize"
)

func newObjectCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "object",
		Short: "List, inspect and evict objects",
	}
	cmd.AddCommand(
		newObjectListCmd(cf),
		&cobra.Command{
			Use:   "inspect PLUGIN/NAME",
			Short: "Show one object in full: state, sockets, storage, alarm",
			Args:  exactArgs(1),
			RunE:  cf.action(inspectObject),
		},
		newObjectEvictCmd(cf),
	)
	return cmd
}

func newObjectListCmd(cf *clientFlags) *cobra.Command {
	var f host.ObjectFilter
	var state string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List objects, a page at a time, in id order",
		Args:  exactArgs(0),
		RunE: cf.action(func(ctx context.Context, e *clientEnv, _ []string) error {
			f.State = host.State(state)
			list, err := e.api.Objects(ctx, f)
			if err != nil {
				return err
			}
			if e.json {
				return printJSON(e.stdout, list)
			}
			if len(list.Objects) == 0 {
				_, err := fmt.Fprintln(e.stdout, "no objects")
				return err
			}
			t := newTable(e.stdout, "ID", "STATE", "CONNS", "OWNER", "VERSION", "LAST EVENT")
			for _, o := range list.Objects {
				t.row(o.ID, string(o.State), strconv.Itoa(o.Conns), o.Owner, shortSHA(o.Version), timeText(o.LastEvent))
			}
			if err := t.flush(); err != nil {
				return err
			}
			for _, u := range list.Unreachable {
				fmt.Fprintf(e.stderr, "not listed: the objects of %s, which did not answer\n", u)
			}
			if list.Next != "" {
				fmt.Fprintf(e.stderr, "more objects follow: add --after %s\n", list.Next)
			}
			return nil
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.Plugin, "plugin", "", "only objects of this plugin")
	fs.StringVar(&state, "state", "", "only objects in this state: live, hibernated or failed")
	fs.IntVar(&f.Limit, "limit", 0, "objects per page, 1-1000 (default 100)")
	fs.StringVar(&f.After, "after", "", "list objects after this PLUGIN/NAME (the next page)")
	return cmd
}

func inspectObject(ctx context.Context, e *clientEnv, args []string) error {
	id, err := host.ParseObjectID(args[0])
	if err != nil {
		return err
	}
	d, err := e.api.Object(ctx, id)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.stdout, d)
	}
	alarm := timeText(d.Alarm)
	if d.Alarm != nil && d.AlarmRetry > 0 {
		alarm += fmt.Sprintf(" (retry %d)", d.AlarmRetry)
	}
	memory := "-"
	if d.MemoryPages > 0 {
		memory = fmt.Sprintf("%s (%s)", plural(int(d.MemoryPages), "page"), bytesize.Format(int64(d.MemoryPages)*64<<10))
	}
	t := newTable(e.stdout)
	t.row("ID", d.ID)
	t.row("STATE", string(d.State))
	if d.Failure != "" {
		t.row("FAILURE", d.Failure)
	}
	t.row("OWNER", d.Owner)
	t.row("VERSION", orDash(d.Version))
	t.row("LAST EVENT", timeText(d.LastEvent))
	hibernated := timeText(d.Hibernated)
	if d.HibernatedWhy != "" && d.Hibernated != nil {
		hibernated += " (" + d.HibernatedWhy + ")"
	}
	t.row("HIBERNATED", hibernated)
	t.row("SNAPSHOT", bytesize.Format(int64(d.SnapshotSize)))
	t.row("STORAGE", fmt.Sprintf("%s, %s", plural(d.StorageKeys, "key"), bytesize.Format(d.StorageBytes)))
	t.row("ALARM", alarm)
	t.row("MEMORY", memory)
	t.row("CONNECTIONS", strconv.Itoa(d.Conns))
	if err := t.flush(); err != nil {
		return err
	}
	if len(d.Connections) == 0 {
		return nil
	}
	fmt.Fprintln(e.stdout)
	t = newTable(e.stdout, "CONNECTION", "TAGS", "ATTACHMENT")
	for _, c := range d.Connections {
		t.row(strconv.FormatUint(c.ID, 10), orDash(strings.Join(c.Tags, ",")), bytesize.Format(int64(c.AttachmentSize)))
	}
	return t.flush()
}

func newObjectEvictCmd(cf *clientFlags) *cobra.Command {
	var req admin.EvictRequest
	cmd := &cobra.Command{
		Use:   "evict PLUGIN/NAME",
		Short: "Hibernate an object now; with --close also close its sockets",
		Long: `Hibernate an object now: its state goes to the store and its next event wakes
it on the plugin's active version. A failed object is cleared. With --close its
sockets are closed too (default code 1001, reason "evicted").`,
		Args: exactArgs(1),
		RunE: cf.action(func(ctx context.Context, e *clientEnv, args []string) error {
			id, err := host.ParseObjectID(args[0])
			if err != nil {
				return err
			}
			if !req.Close && (req.Code != 0 || req.Reason != "") {
				return fmt.Errorf("--code and --reason need --close")
			}
			res, err := e.api.Evict(ctx, id, req)
			if err != nil {
				return err
			}
			if e.json {
				return printJSON(e.stdout, res)
			}
			if res.Closed {
				_, err = fmt.Fprintf(e.stdout, "evicted %s and closed its sockets\n", res.Evicted)
			} else {
				_, err = fmt.Fprintf(e.stdout, "evicted %s; its sockets stay open\n", res.Evicted)
			}
			return err
		}),
	}
	fs := cmd.Flags()
	fs.BoolVar(&req.Close, "close", false, "also close the object's sockets")
	fs.IntVar(&req.Code, "code", 0, "WebSocket close code with --close: 1000-1003, 1007-1014 or 3000-4999 (default 1001)")
	fs.StringVar(&req.Reason, "reason", "", `close reason with --close, at most 123 bytes (default "evicted")`)
	return cmd
}
