package gateway

import "testing"

// Close codes count one by one where the protocol defines them and by
// range where applications pick them, so no peer can grow Stats.Closed.
func TestCloseCodeSlots(t *testing.T) {
	tests := []struct {
		name  string
		code  int
		label string
	}{
		{"normal", 1000, "1000"},
		{"going away", 1001, "1001"},
		{"dropped", 1006, "1006"},
		{"slow reader", 1008, "1008"},
		{"last defined", 1015, "1015"},
		{"past the defined", 1016, "other"},
		{"application 3xxx", 3000, "3xxx"},
		{"application 3xxx, last", 3999, "3xxx"},
		{"application 4xxx", 4321, "4xxx"},
		{"past the application ranges", 5000, "other"},
		{"below the protocol's", 999, "other"},
		{"none", 0, "other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			slot := closeCodeSlot(tc.code)
			if slot < 0 || slot >= numCloseSlots {
				t.Fatalf("code %d: slot %d out of range", tc.code, slot)
			}
			if got := closeSlotLabel(slot); got != tc.label {
				t.Fatalf("code %d: label %q, want %q", tc.code, got, tc.label)
			}
		})
	}
}
