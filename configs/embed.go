// Package configs holds Confab's documented default configuration, compiled into
// the binary.
package configs

import _ "embed"

//go:embed confab.yaml
var defaultYAML []byte

// Default returns the default configuration file, confab.yaml, as YAML. Each call
// returns a fresh copy, so callers may modify it.
func Default() []byte {
	return append([]byte(nil), defaultYAML...)
}
