package loadgen

import "testing"

func TestTrackObserve(t *testing.T) {
	type obs struct {
		seq         uint32
		fresh, late bool
	}
	for _, tc := range []struct {
		name string
		seqs []obs
		gaps []gap // left at the end
	}{
		{"in order", []obs{{0, true, false}, {1, true, false}, {2, true, false}}, nil},
		{"duplicate", []obs{{0, true, false}, {1, true, false}, {1, false, false}, {0, false, false}}, nil},
		{"swapped", []obs{{0, true, false}, {2, true, false}, {1, true, true}, {3, true, false}}, nil},
		{"lost", []obs{{0, true, false}, {2, true, false}, {3, true, false}}, []gap{{1, 2}}},
		{"late from the middle of a gap", []obs{{0, true, false}, {5, true, false}, {3, true, true}, {3, false, false}},
			[]gap{{1, 3}, {4, 5}}},
		{"gap filled from both ends", []obs{{3, true, false}, {0, true, true}, {2, true, true}, {1, true, true}}, nil},
		{"duplicate of a late one", []obs{{1, true, false}, {0, true, true}, {0, false, false}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr track
			for i, o := range tc.seqs {
				fresh, late := tr.observe(o.seq)
				if fresh != o.fresh || late != o.late {
					t.Fatalf("observation %d (seq %d): fresh %v late %v, want %v %v", i, o.seq, fresh, late, o.fresh, o.late)
				}
			}
			if len(tr.gaps) != len(tc.gaps) {
				t.Fatalf("gaps %v, want %v", tr.gaps, tc.gaps)
			}
			for i := range tc.gaps {
				if tr.gaps[i] != tc.gaps[i] {
					t.Fatalf("gaps %v, want %v", tr.gaps, tc.gaps)
				}
			}
		})
	}
}

// A server that drops every other frame keeps a track's memory bounded.
func TestTrackGapsBounded(t *testing.T) {
	var tr track
	for seq := uint32(0); seq < 10*maxGaps; seq += 2 {
		tr.observe(seq)
	}
	if len(tr.gaps) > maxGaps {
		t.Fatalf("%d gaps kept, want at most %d", len(tr.gaps), maxGaps)
	}
}
