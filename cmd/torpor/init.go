package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/torpor-dev/torpor/host"
	assdk "github.com/torpor-dev/torpor/sdk/assemblyscript"
)

// The plugin project templates of `torpor init`: common/ for every
// language, then go/ or as/. A file's path is its path in the project with
// ".tmpl" removed; gitignore.tmpl becomes .gitignore.
//
//go:embed scaffold
var scaffoldFS embed.FS

type scaffold struct {
	Name          string // plugin name
	Module        string // Go module path of the project
	Lang          string // "go" or "as"
	TorporVersion string // of github.com/torpor-dev/torpor in go.mod
	TorporSource  string // a checkout for go.mod's replace; "" for none
	ASVersion     string // assemblyscript, pinned as the SDK pins it
	BuildCommand  string // for the docs
}

func newInitCmd() *cobra.Command {
	var lang, dir, source string
	cmd := &cobra.Command{
		Use:   "init NAME",
		Short: "Create a plugin project: a room, its build script and a test that runs it in a host",
		Long: `Create a plugin project in ./NAME (or --dir): the source of a small room,
a build script, and a Go test that builds the room and runs it in a torpor
host inside the test process. --lang go uses the Go SDK; --lang as the
AssemblyScript SDK, a copy of which goes into the project.

The project's go.mod requires github.com/torpor-dev/torpor at this binary's
version; --torpor-source PATH points it at a source checkout instead.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := host.ValidatePluginName(name); err != nil {
				return err
			}
			if dir == "" {
				dir = name
			}
			sc := scaffold{Name: name, Module: "example.com/" + name, Lang: lang, ASVersion: assdk.CompilerVersion}
			switch lang {
			case "go":
				sc.BuildCommand = "./build.sh"
			case "as":
				sc.BuildCommand = "npm run build"
			default:
				return fmt.Errorf("--lang %q: want go or as", lang)
			}
			sc.TorporVersion = torporModuleVersion()
			if sc.TorporVersion == "v0.0.0" && source == "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "note: this torpor is a development build with no module version, so go.mod requires v0.0.0, which no proxy has: pass --torpor-source PATH (a torpor checkout) or edit go.mod")
			}
			if source != "" {
				abs, err := filepath.Abs(source)
				if err != nil {
					return err
				}
				if _, err := os.Stat(filepath.Join(abs, "sdk", "sdk.go")); err != nil {
					return fmt.Errorf("--torpor-source %s: not a torpor source checkout (no sdk/sdk.go)", source)
				}
				sc.TorporSource = modPath(abs)
			}
			files, err := sc.render()
			if err != nil {
				return err
			}
			if err := writeProject(dir, files); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s (%s): build with %s, test with %s\n", dir, lang, sc.BuildCommand, testCommand(lang))
			return nil
		},
	}
	cmd.Flags().StringVar(&lang, "lang", "go", "language of the room: go or as (AssemblyScript)")
	cmd.Flags().StringVar(&dir, "dir", "", "directory to create (default ./NAME)")
	cmd.Flags().StringVar(&source, "torpor-source", "", "a torpor source checkout for go.mod to use instead of a released version")
	return cmd
}

func testCommand(lang string) string {
	if lang == "as" {
		return "npm install && go mod tidy && npm test"
	}
	return "go mod tidy && go test ./..."
}

// modPath writes a path for go.mod: as it is when it is a plain token,
// quoted when it holds spaces or other characters go.mod would split on.
func modPath(p string) string {
	if strings.ContainsAny(p, " \t\"'`\\") {
		return strconv.Quote(p)
	}
	return p
}

// torporModuleVersion is the version of this binary's module, for go.mod;
// a development build has none, so it names v0.0.0, which only a replace
// (--torpor-source) can satisfy.
func torporModuleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && strings.HasPrefix(bi.Main.Version, "v") {
		return bi.Main.Version
	}
	return "v0.0.0"
}

// render fills in every template for sc.Lang and, for AssemblyScript, adds
// the SDK's sources under torpor-sdk/.
func (sc scaffold) render() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, root := range []string{"scaffold/common", "scaffold/" + sc.Lang} {
		err := fs.WalkDir(scaffoldFS, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			src, err := scaffoldFS.ReadFile(p)
			if err != nil {
				return err
			}
			tmpl, err := template.New(p).Parse(string(src))
			if err != nil {
				return fmt.Errorf("scaffold %s: %w", p, err)
			}
			var out bytes.Buffer
			if err := tmpl.Execute(&out, sc); err != nil {
				return fmt.Errorf("scaffold %s: %w", p, err)
			}
			rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
			if rel == "gitignore" {
				rel = ".gitignore"
			}
			files[rel] = out.Bytes()
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if sc.Lang == "as" {
		err := fs.WalkDir(assdk.Files, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := assdk.Files.ReadFile(p)
			files[path.Join("torpor-sdk", p)] = b
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// writeProject writes files under dir, which must not exist or be empty, so
// that init never overwrites anyone's work.
func writeProject(dir string, files map[string][]byte) error {
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return fmt.Errorf("%s exists and is not empty: init writes only into a new or empty directory", dir)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	for rel, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			return err
		}
	}
	return nil
}
