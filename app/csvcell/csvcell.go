// Package csvcell makes text safe to put in a CSV file that merchants open
// in a spreadsheet.
package csvcell

import "strings"

// Safe keeps a spreadsheet from running a cell as a formula (CSV
// injection): text starting with = + - @ (or a tab or carriage return) gets
// a leading apostrophe. Phone numbers such as +1 555 0100 are left as they
// are.
func Safe(v string) string {
	if v == "" || !strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return v
	}
	if strings.Trim(v, "+0123456789 ()-.") == "" {
		return v
	}
	return "'" + v
}
