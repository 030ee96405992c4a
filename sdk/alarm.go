package sdk

import (
	"fmt"
	"time"

	"github.com/torpor-dev/torpor/abi"
)

// SetAlarm sets the object's one alarm to t, replacing any earlier one, with
// millisecond precision. It commits with the event; the host then calls the
// Alarm handler once at or after t, even if the object is hibernated or the
// host restarted, and retries it if it fails.
func SetAlarm(t time.Time) error {
	if err := hostAlarmSet(t.UnixMilli()); err != nil {
		return fmt.Errorf("set alarm: %w", err)
	}
	return nil
}

// GetAlarm returns the time the alarm is set to, and false if none is set.
func GetAlarm() (time.Time, bool, error) {
	ms, err := hostAlarmGet()
	switch err {
	case nil:
		return time.UnixMilli(ms), true, nil
	case abi.NotFound:
		return time.Time{}, false, nil
	default:
		return time.Time{}, false, fmt.Errorf("get alarm: %w", err)
	}
}

// CancelAlarm removes the alarm, if one is set.
func CancelAlarm() error {
	if err := hostAlarmCancel(); err != nil && err != abi.NotFound {
		return fmt.Errorf("cancel alarm: %w", err)
	}
	return nil
}
