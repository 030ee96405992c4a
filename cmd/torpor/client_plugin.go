package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/host/admin"
	"github.com/torpor-dev/torpor/internal/bytesize"
)

func newPluginCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Upload, list, inspect and remove plugins on a host",
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "upload NAME FILE.wasm",
			Short: "Upload a plugin version and make it active ('-' reads stdin)",
			Long: `Upload FILE.wasm as a version of the plugin NAME and make it the active one.
New objects start on it at once; live objects move to it at their next
hibernation (or now, with 'torpor object evict'). Sockets stay open.`,
			Args: exactArgs(2),
			RunE: cf.action(uploadPlugin),
		},
		&cobra.Command{
			Use:   "list",
			Short: "List plugins and their active versions",
			Args:  exactArgs(0),
			RunE:  cf.action(listPlugins),
		},
		&cobra.Command{
			Use:   "inspect NAME",
			Short: "List every version of a plugin",
			Args:  exactArgs(1),
			RunE:  cf.action(inspectPlugin),
		},
		newPluginRmCmd(cf),
	)
	return cmd
}

func uploadPlugin(ctx context.Context, e *clientEnv, args []string) error {
	name, file := args[0], args[1]
	var wasm []byte
	var err error
	if file == "-" {
		wasm, err = io.ReadAll(os.Stdin)
	} else {
		wasm, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("read plugin: %w", err)
	}
	p, created, err := e.api.UploadPlugin(ctx, name, wasm)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.stdout, p)
	}
	if created {
		_, err = fmt.Fprintf(e.stdout, "uploaded %s version %s (%s); it is active\n", p.Name, shortSHA(p.SHA256), bytesize.Format(p.Size))
	} else {
		_, err = fmt.Fprintf(e.stdout, "%s already had version %s (%s); it is active\n", p.Name, shortSHA(p.SHA256), bytesize.Format(p.Size))
	}
	return err
}

func listPlugins(ctx context.Context, e *clientEnv, _ []string) error {
	ps, err := e.api.Plugins(ctx)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.stdout, admin.PluginList{Plugins: ps})
	}
	if len(ps) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no plugins (upload one with: torpor plugin upload NAME FILE.wasm)")
		return err
	}
	t := newTable(e.stdout, "NAME", "VERSION", "SIZE", "UPLOADED")
	for _, p := range ps {
		t.row(p.Name, shortSHA(p.SHA256), bytesize.Format(p.Size), timeText(&p.Created))
	}
	return t.flush()
}

func inspectPlugin(ctx context.Context, e *clientEnv, args []string) error {
	vs, err := e.api.PluginVersions(ctx, args[0])
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.stdout, vs)
	}
	fmt.Fprintf(e.stdout, "plugin %s, %d version(s), oldest first:\n", vs.Name, len(vs.Versions))
	t := newTable(e.stdout, "VERSION", "SIZE", "UPLOADED", "ACTIVE")
	for _, v := range vs.Versions {
		active := "-"
		if v.Active {
			active = "yes"
		}
		t.row(v.SHA256, bytesize.Format(v.Size), timeText(&v.Created), active)
	}
	return t.flush()
}

func newPluginRmCmd(cf *clientFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a plugin and all its versions",
		Long: `Remove every version of the plugin NAME. Its objects' data stays in the store.
The host refuses while any of its objects is live or has sockets, since those
sockets would be closed with 1011; --force removes it anyway.`,
		Args: exactArgs(1),
		RunE: cf.action(func(ctx context.Context, e *clientEnv, args []string) error {
			if err := e.api.RemovePlugin(ctx, args[0], force); err != nil {
				return err
			}
			if e.json {
				return nil // the API answers 204 with no body
			}
			_, err := fmt.Fprintf(e.stdout, "removed plugin %s\n", args[0])
			return err
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove even while objects are live or connected")
	return cmd
}
