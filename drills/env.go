package drills

import (
	"fmt"
	"os"
	"regexp"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ExpandEnv replaces each ${NAME} in s with the environment variable NAME,
// as drill files write secrets in DSNs (looked up with lookup; nil means
// os.LookupEnv). An unset variable is an error that names it, never a
// value. Nothing else is expanded, so a lone $ in a password stays as it is.
func ExpandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable(s) not set: %v", missing)
	}
	return out, nil
}
