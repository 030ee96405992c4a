// Package assemblyscript holds the AssemblyScript SDK's sources for Go
// code: `torpor init --lang as` copies them into a new project, so the
// project builds against the SDK of the binary that made it.
package assemblyscript

import "embed"

// Files are the SDK's sources: assembly/*.ts, build.mjs, README.md and
// package.json.
//
//go:embed assembly/*.ts build.mjs README.md package.json
var Files embed.FS

// CompilerVersion is the assemblyscript version package.json pins; a
// project scaffolded from Files pins the same one.
const CompilerVersion = "0.28.20"
