package gateway

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lxzan/gws"
)

// Close codes (RFC 6455 section 7.4.1) the gateway sends or reports.
const (
	closeGoingAway     = 1001
	closeProtocolError = 1002 // a frame breaking RFC 6455
	closeNoStatus      = 1005 // reported when the client's close frame had no code
	closeAbnormal      = 1006 // reported when the connection ended without a close frame
	closeInvalidData   = 1007 // invalid UTF-8 in a text frame
	closePolicy        = 1008 // slow reader, ping flood
	closeTooLarge      = 1009 // frame over MaxFrame
	closeInternal      = 1011
	closeTryAgainLater = 1013 // the object's mailbox stayed full
)

// maxReason is the longest close reason that fits a close frame.
const maxReason = 123

// closeCause is why the gateway or the object closed a socket. The first
// cause claimed wins; the read loop reports it to the host when the socket
// ends, unless the object asked for the close (it knows already).
type closeCause struct {
	code     int
	reason   string
	byObject bool
	// report, when set, is the code the object hears instead of code: a
	// peer that went silent sent no close frame, so for the object the
	// connection dropped (1006), whatever the gateway sent it.
	report int
}

var (
	goingAway     = &closeCause{code: closeGoingAway, reason: "going away"}
	pingTimeout   = &closeCause{code: closeGoingAway, reason: "ping timeout", report: closeAbnormal}
	slowReader    = &closeCause{code: closePolicy, reason: "slow reader"}
	stalled       = &closeCause{code: closePolicy, reason: "slow reader: no write progress"}
	overloaded    = &closeCause{code: closeTryAgainLater, reason: "object overloaded"}
	hostClosed    = &closeCause{code: closeGoingAway, reason: "host shutting down"}
	internalError = &closeCause{code: closeInternal, reason: "internal error"}
	panicked      = &closeCause{code: closeInternal, reason: "internal error reading the socket"}
	pingFlood     = &closeCause{code: closePolicy, reason: "ping flood"}
	upgradeFailed = &closeCause{code: closeAbnormal, reason: "upgrade failed"}
)

// Close code slots for Stats.Closed: 1000-1015 one each, then the
// application's ranges and everything else, so that the codes a plugin or
// a client picks cannot grow the counters.
const (
	slotApp3      = 16 // 3000-3999
	slotApp4      = 17 // 4000-4999
	slotOther     = 18
	numCloseSlots = 19
)

func closeCodeSlot(code int) int {
	switch {
	case code >= 1000 && code < 1000+slotApp3:
		return code - 1000
	case code >= 3000 && code <= 3999:
		return slotApp3
	case code >= 4000 && code <= 4999:
		return slotApp4
	}
	return slotOther
}

func closeSlotLabel(slot int) string {
	switch slot {
	case slotApp3:
		return "3xxx"
	case slotApp4:
		return "4xxx"
	case slotOther:
		return "other"
	}
	return strconv.Itoa(1000 + slot)
}

// closeStatus turns the error gws's read loop ended with into the close
// code and reason the object hears.
func closeStatus(err error) (int, string) {
	var ce *gws.CloseError
	switch {
	case err == nil:
		return closeAbnormal, "connection dropped"
	case errors.As(err, &ce):
		switch {
		case ce.Code == 0:
			return closeNoStatus, ""
		case !validPeerCode(ce.Code):
			return closeProtocolError, fmt.Sprintf("invalid close code %d", ce.Code)
		}
		return int(ce.Code), truncateReason(strings.ToValidUTF8(string(ce.Reason), "\uFFFD"))
	case errors.Is(err, gws.ErrTextEncoding):
		return closeInvalidData, "invalid UTF-8 in a text frame"
	}
	// gws ends its loop with its internal status code type when it closed
	// the socket for a protocol error (1002) or an oversize frame (1009).
	if sc, ok := err.(interface{ Uint16() uint16 }); ok && sc.Uint16() >= 1000 {
		return int(sc.Uint16()), strings.TrimPrefix(err.Error(), "gws: ")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return closeAbnormal, "peer silent for two ping intervals"
	}
	if msg := err.Error(); strings.HasPrefix(msg, "gws: ") {
		return closeProtocolError, truncateReason(strings.TrimPrefix(msg, "gws: "))
	}
	return closeAbnormal, "connection dropped"
}

// validPeerCode reports whether a client may send code in a close frame.
func validPeerCode(code uint16) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code < 1000 || code > 1014:
		return false
	}
	return code != 1004 && code != 1005 && code != 1006
}

func truncateReason(s string) string {
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
