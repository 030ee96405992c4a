package sdk

import (
	"fmt"

	"github.com/torpor-dev/torpor/abi"
)

var objectID string

// ObjectID returns the id of the object this instance serves, "plugin/name",
// or "" if the host cannot say (outside a host, for example).
func ObjectID() string {
	if objectID == "" {
		b, err := fetch(hostObjectID)
		if err != nil {
			return ""
		}
		objectID = string(b)
	}
	return objectID
}

// Log writes msg to the host log at level, tagged with the object. Failures
// to log are ignored.
func Log(level abi.LogLevel, msg string) {
	_ = hostLog(level, msg)
}

// Logf formats its arguments like fmt.Sprintf and logs the result at info level.
func Logf(format string, args ...any) {
	Log(abi.LogInfo, fmt.Sprintf(format, args...))
}

// SetAutoResponse makes the host answer a text frame equal to request with
// response, without waking the object or calling any handler, like Durable
// Objects' setWebSocketAutoResponse. The pair is kept across hibernation
// until removed. response must not be empty.
func SetAutoResponse(request, response string) error {
	if response == "" {
		return fmt.Errorf("set auto-response to %q: empty response (use RemoveAutoResponse): %w", request, abi.Invalid)
	}
	if err := hostAutoResponseSet(request, response); err != nil {
		return fmt.Errorf("set auto-response to %q: %w", request, err)
	}
	return nil
}

// RemoveAutoResponse removes the auto-response for request, if there is one.
func RemoveAutoResponse(request string) error {
	if err := hostAutoResponseSet(request, ""); err != nil && err != abi.NotFound {
		return fmt.Errorf("remove auto-response to %q: %w", request, err)
	}
	return nil
}
