package main

import "github.com/spf13/cobra"

// addClientCommands adds the operator commands (plugin, object, host) that
// talk to a running host's admin API. They share the connection flags
// (client_config.go); each group lives in its own client_*.go file.
func addClientCommands(root *cobra.Command) {
	cf := &clientFlags{}
	for _, cmd := range []*cobra.Command{newPluginCmd(cf), newObjectCmd(cf), newHostCmd(cf)} {
		cf.bind(cmd)
		root.AddCommand(cmd)
	}
}
