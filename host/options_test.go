package host

import "testing"

// TestPluginCallsDefault: the per-plugin bound follows the host-wide one in
// force, leaves a quarter of it to other plugins, and never drops to one
// slot a core (where two preempted calls stall every socket of a plugin).
func TestPluginCallsDefault(t *testing.T) {
	def := defaultGuestCalls()
	for _, tc := range []struct {
		name                string
		guestCalls, plugins int
		want                int
	}{
		{"defaults", 0, 0, def * 3 / 4},
		{"host-wide bound given", 16, 0, 12},
		{"small host-wide bound", 1, 0, 1},
		{"host-wide unbounded", -1, 0, def * 3 / 4},
		{"per-plugin bound given", 16, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Options{DataDir: t.TempDir(), GuestCalls: tc.guestCalls, PluginCalls: tc.plugins}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			if o.PluginCalls != tc.want {
				t.Errorf("PluginCalls = %d, want %d (GuestCalls %d)", o.PluginCalls, tc.want, o.GuestCalls)
			}
		})
	}
	if d := DefaultOptions(); d.PluginCalls != def*3/4 || d.PluginCalls <= 2 {
		t.Errorf("DefaultOptions: PluginCalls %d of GuestCalls %d", d.PluginCalls, d.GuestCalls)
	}
}
