package datamerge_test

import (
	"bytes"
	"testing"

	"github.com/torpor-dev/torpor/host/internal/datamerge"
)

// Extract takes the image out only when the stripped module plus the image,
// painted in order on zeros, is the memory the original instantiates to,
// and leaves every other module alone.
func TestExtract(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     wasmModule
		extract bool
	}{
		{"adjacent and apart", wasmModule{segs: [][]byte{active(0, "ab"), active(2, "cd"), active(9000, "far")}}, true},
		{"overlap: the later wins", wasmModule{segs: [][]byte{active(10, "aaaa"), active(12, "BB")}}, true},
		{"explicit memory 0", wasmModule{segs: [][]byte{explicit(0, 5, "x")}}, true},
		{"to the last byte", wasmModule{segs: [][]byte{active(65534, "zz")}}, true},
		{"past the initial memory", wasmModule{segs: [][]byte{active(65535, "zz")}}, false},
		{"passive", wasmModule{segs: [][]byte{active(0, "a"), passive("p")}}, false},
		{"at a global", wasmModule{importGlobal: true, segs: [][]byte{atGlobal(0, "g")}}, false},
		{"data count", wasmModule{dataCount: true, segs: [][]byte{active(0, "a")}}, false},
		{"imported memory", wasmModule{importMemory: true, segs: [][]byte{active(0, "a")}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wasm := tc.mod.bytes()
			orig := bytes.Clone(wasm)
			out, img, err := datamerge.Extract(wasm)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(wasm, orig) {
				t.Fatal("Extract modified its input")
			}
			if got := len(img.Segments) > 0; got != tc.extract {
				t.Fatalf("extracted %v, want %v", got, tc.extract)
			}
			if !tc.extract {
				if !bytes.Equal(out, wasm) {
					t.Error("a module left alone came back changed")
				}
				return
			}
			want, err := instantiate(t, wasm)
			if err != nil {
				t.Fatal(err)
			}
			got, err := instantiate(t, out)
			if err != nil {
				t.Fatalf("the stripped module does not instantiate: %v", err)
			}
			if bytes.Count(got, []byte{0}) != len(got) {
				t.Fatal("the stripped module still writes data")
			}
			for _, s := range img.Segments {
				copy(got[s.Offset:], s.Data)
			}
			if !bytes.Equal(got, want) {
				t.Error("stripped module plus image differs from the original's memory")
			}
			if last := img.Segments[len(img.Segments)-1]; img.Size < uint64(last.Offset)+uint64(len(last.Data)) {
				t.Errorf("image size %d short of its last segment", img.Size)
			}
		})
	}
}
