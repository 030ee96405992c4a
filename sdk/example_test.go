package sdk_test

import (
	"errors"
	"strconv"
	"time"

	"github.com/torpor-dev/torpor/sdk"
)

// A room that counts messages durably and echoes each one to the others.
// In a plugin this runs from init; main stays empty.
func ExampleRegister() {
	type room struct {
		Seen int // in memory; kept across hibernation by the snapshot
	}
	sdk.Register(sdk.Plugin[room]{
		Connect: func(r *room, c sdk.Conn, req *sdk.Request) error {
			if req.Param("token") == "" {
				return sdk.Reject(401, "token required")
			}
			return c.SetTags("members")
		},
		Message: func(r *room, c sdk.Conn, m sdk.Message) error {
			r.Seen++
			var total int
			if err := sdk.Storage.GetJSON("total", &total); err != nil && !errors.Is(err, sdk.ErrNotFound) {
				return err
			}
			total++
			if err := sdk.Storage.PutJSON("total", total); err != nil {
				return err
			}
			return sdk.Broadcast(strconv.Itoa(total)+": "+m.Text(), sdk.Except(c), sdk.OnlyTag("members"))
		},
	})
}

func ExampleSetAlarm() {
	// In a handler: wake the object in a minute, even if it hibernates.
	if err := sdk.SetAlarm(time.Now().Add(time.Minute)); err != nil {
		sdk.Logf("set alarm: %v", err)
	}
}

func ExampleStorage_list() {
	// In a handler: every key under "user/", paged from the host as needed.
	kvs, err := sdk.Storage.List("user/", sdk.ListOptions{})
	if err != nil {
		sdk.Logf("list users: %v", err)
		return
	}
	for _, kv := range kvs {
		sdk.Logf("%s = %d bytes", kv.Key, len(kv.Value))
	}
}
