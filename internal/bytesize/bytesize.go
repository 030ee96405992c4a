// Package bytesize renders byte counts for people: "812 B", "1.9 MiB".
package bytesize

import (
	"fmt"
	"strings"
)

// Format renders n in binary units with one decimal, dropping a ".0".
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	s := strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/float64(div)), ".0")
	return s + " " + string("KMGTPE"[exp]) + "iB"
}
