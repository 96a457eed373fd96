// Package migrations holds the schema as ordered goose SQL files, embedded
// into the binary so `cartwheel migrate up` needs nothing on disk.
package migrations

import "embed"

//go:embed *.sql
var FS embed.FS
