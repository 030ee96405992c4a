package host

import "testing"

// The evictor's watermarks: percentages of a large limit, at least a wake's
// room free ahead of a limit of four wakes or more, and no room kept ahead
// of a smaller one (which would halve it): percentages only.
func TestLiveWatermarks(t *testing.T) {
	for _, tc := range []struct {
		limit, unit, high, low int64
	}{
		{1000, 1, 950, 850},
		{10, 1, 9, 8},
		{4, 1, 3, 2},
		{3, 1, 3, 3},
		{1, 1, 1, 1},
		{100 << 20, 4 << 20, 95 << 20, 85 << 20},
		{20 << 20, 4 << 20, 16 << 20, 12 << 20},
		{12 << 20, 4 << 20, 12<<20 - 12<<20*5/100, 12<<20 - 12<<20*15/100}, // under four wakes: percentages only
		{100 << 20, 0, 95 << 20, 85 << 20},                                 // no wake yet
	} {
		if h, l := high(tc.limit, tc.unit), low(tc.limit, tc.unit); h != tc.high || l != tc.low {
			t.Errorf("limit %d, unit %d: marks %d and %d, want %d and %d", tc.limit, tc.unit, h, l, tc.high, tc.low)
		}
	}
}
