// Command broadcast is the smallest torpor room: every frame a client sends,
// text or binary, goes verbatim and with the same kind to every connection of
// the room, the sender included. It keeps no state and accepts every client.
package main

import "github.com/torpor-dev/torpor/sdk"

func init() {
	sdk.Register(sdk.Plugin[struct{}]{
		Message: func(_ *struct{}, _ sdk.Conn, m sdk.Message) error {
			return sdk.BroadcastFrame(m.Kind, m.Data)
		},
	})
}

// main is never called: the host runs the module as a WASI reactor.
func main() {}
