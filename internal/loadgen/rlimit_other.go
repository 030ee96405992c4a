//go:build !linux && !darwin

package loadgen

import "errors"

// RaiseFileLimit is a no-op where there are no rlimits.
func RaiseFileLimit() (before, soft, hard uint64, err error) {
	return 0, 0, 0, errors.New("no open-file limit to raise on this system")
}
