package main

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/torpor-dev/torpor/internal/plugintest"
)

// The embedded examples are exactly what their sources build to: a change
// to a source (or to the SDK or the pinned compiler) without `go generate
// ./cmd/torpor` fails here, and so would a tampered binary blob.
func TestEmbeddedExamplesMatchSource(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			embedded, err := exampleWasm(ex.name)
			if err != nil {
				t.Fatal(err)
			}
			var fresh []byte
			if strings.HasSuffix(ex.source, ".wat") {
				fresh = plugintest.WAT(t, ex.source)
			} else {
				fresh = plugintest.AS(t, ex.source)
			}
			if !bytes.Equal(embedded, fresh) {
				t.Fatalf("examples/%s.wasm (%d bytes, sha256 %x) differs from a fresh build of %s (%d bytes, sha256 %x): run `go generate ./cmd/torpor`",
					ex.name, len(embedded), sha256.Sum256(embedded), ex.source, len(fresh), sha256.Sum256(fresh))
			}
		})
	}
}
