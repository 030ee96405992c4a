package sdk

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"reflect"
	"strings"
	"testing"

	"github.com/torpor-dev/torpor/abi"
)

// directives returns the functions in file carrying the //go:<directive>
// comment, by the name the directive gives, with their wasm signatures.
func directives(t *testing.T, file, directive string) map[string]abi.Signature {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	valType := func(e ast.Expr) abi.ValType {
		switch types.ExprString(e) {
		case "uint64", "int64":
			return abi.I64
		case "uint32", "int32", "unsafe.Pointer":
			return abi.I32
		}
		t.Fatalf("%s: type %s has no ABI mapping", file, types.ExprString(e))
		return 0
	}
	fields := func(fl *ast.FieldList) []abi.ValType {
		var out []abi.ValType
		if fl == nil {
			return nil
		}
		for _, f := range fl.List {
			n := max(len(f.Names), 1)
			for range n {
				out = append(out, valType(f.Type))
			}
		}
		return out
	}
	found := map[string]abi.Signature{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Doc == nil {
			continue
		}
		for _, c := range fn.Doc.List {
			args, ok := strings.CutPrefix(c.Text, "//go:"+directive+" ")
			if !ok {
				continue
			}
			words := strings.Fields(args)
			name := words[len(words)-1]
			if directive == "wasmimport" {
				if len(words) != 2 || words[0] != abi.ImportModule {
					t.Errorf("%s: %s imports from %q, want %q", file, fn.Name.Name, words[0], abi.ImportModule)
				}
			}
			if _, dup := found[name]; dup {
				t.Errorf("%s: %s declared twice", file, name)
			}
			found[name] = abi.Signature{Params: fields(fn.Type.Params), Results: fields(fn.Type.Results)}
		}
	}
	return found
}

// TestABIDeclarations checks every //go:wasmimport and //go:wasmexport in the
// wasip1 files against the names and signatures in package abi.
func TestABIDeclarations(t *testing.T) {
	for _, tt := range []struct {
		name, file, directive string
		want                  map[string]abi.Signature
	}{
		{"imports", "imports_wasip1.go", "wasmimport", abi.Imports},
		{"exports", "exports_wasip1.go", "wasmexport", abi.Exports},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := directives(t, tt.file, tt.directive)
			for name, want := range tt.want {
				sig, ok := got[name]
				if !ok {
					t.Errorf("%s is not declared", name)
					continue
				}
				if !sameTypes(sig.Params, want.Params) || !sameTypes(sig.Results, want.Results) {
					t.Errorf("%s: declared %v, abi says %v", name, sig, want)
				}
			}
			for name := range got {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("%s is declared but not in package abi", name)
				}
			}
		})
	}
}

func sameTypes(a, b []abi.ValType) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}
