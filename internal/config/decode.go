package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decodeYAML applies one YAML document onto c, strictly: unknown keys,
// duplicate keys and values of the wrong type are errors that name the key by
// its dotted path. name says where the document came from, for syntax errors.
//
// The document is walked as a yaml.Node against c's yaml tags, rather than
// decoded with KnownFields, so that errors carry the dotted path and so that a
// mapping sets only the keys it names (a partial file keeps the rest).
func decodeYAML(c *Config, data []byte, name string) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty or comments only
		}
		return fmt.Errorf("config: invalid YAML in %s: %w", name, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return fmt.Errorf("config: invalid YAML in %s: %w", name, err)
		}
		return fmt.Errorf("config: invalid YAML in %s: more than one document (line %d)", name, more.Line)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config: invalid YAML in %s: the top level must be a mapping of keys, got %s (line %d)", name, describe(root), root.Line)
	}
	return apply(reflect.ValueOf(c).Elem(), root, "")
}

// apply decodes n onto dst, the value at path. A mapping sets only the fields
// it names, a sequence replaces the whole list, and null keeps the current
// value.
func apply(dst reflect.Value, n *yaml.Node, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return nil
	}
	if dst.Type() == reflect.TypeFor[time.Duration]() {
		if n.Kind != yaml.ScalarNode {
			return wrongType(path, n, "a duration")
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			return fmt.Errorf("config: %s: %q is not a duration such as \"15s\" (line %d): %w", path, n.Value, n.Line, err)
		}
		dst.SetInt(int64(d))
		return nil
	}
	switch dst.Kind() {
	case reflect.Struct:
		return applyMapping(dst, n, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return wrongType(path, n, "a list")
		}
		list := reflect.MakeSlice(dst.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := apply(list.Index(i), item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		dst.Set(list)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return wrongType(path, n, "a string")
		}
		dst.SetString(n.Value)
	case reflect.Int:
		var v int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
			return wrongType(path, n, "an integer")
		}
		dst.SetInt(int64(v))
	case reflect.Bool:
		var v bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
			return wrongType(path, n, "true or false")
		}
		dst.SetBool(v)
	case reflect.Float64:
		var v float64
		if tag := n.ShortTag(); n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&v) != nil {
			return wrongType(path, n, "a number")
		}
		dst.SetFloat(v)
	default:
		return fmt.Errorf("config: %s: fields of type %s are not supported", path, dst.Type())
	}
	return nil
}

// applyMapping decodes the mapping n onto the struct dst, the value at path.
func applyMapping(dst reflect.Value, n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		return wrongType(path, n, "a mapping of keys")
	}
	firstLine := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("config: %s: a key must be a plain name, got %s (line %d)", orTop(path), describe(k), k.Line)
		}
		key := k.Value
		if path != "" {
			key = path + "." + k.Value
		}
		if line, ok := firstLine[k.Value]; ok {
			return fmt.Errorf("config: duplicate key %q (line %d, first at line %d)", key, k.Line, line)
		}
		firstLine[k.Value] = k.Line
		field, ok := fieldByName(dst.Type(), k.Value)
		if !ok {
			return unknownKey(dst.Type(), path, key, k)
		}
		if err := apply(dst.Field(field), v, key); err != nil {
			return err
		}
	}
	return nil
}

// fieldByName returns the index of t's field whose yaml name is name.
func fieldByName(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == name {
			return i, true
		}
	}
	return 0, false
}

// unknownKey reports the key k, found at path in a mapping decoded onto t, and
// suggests the key it differs from only in case, if any.
func unknownKey(t reflect.Type, path, key string, k *yaml.Node) error {
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); strings.EqualFold(name, k.Value) {
			if path != "" {
				name = path + "." + name
			}
			return fmt.Errorf("config: unknown key %q (line %d); did you mean %q?", key, k.Line, name)
		}
	}
	return fmt.Errorf("config: unknown key %q (line %d)", key, k.Line)
}

// orTop names path in messages, where "" is the top level.
func orTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// wrongType reports that the value n at path is not the kind of value wanted.
func wrongType(path string, n *yaml.Node, want string) error {
	if n.Kind == yaml.ScalarNode {
		return fmt.Errorf("config: %s: %q is not %s (line %d)", path, n.Value, want, n.Line)
	}
	return fmt.Errorf("config: %s: expected %s, got %s (line %d)", path, want, describe(n), n.Line)
}

// describe names the kind of a YAML node for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}
