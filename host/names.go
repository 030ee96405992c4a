package host

import (
	"fmt"
	"strings"
)

// ObjectID names one object: a plugin and the object's name within it, as in
// the URL path /{plugin}/{name}.
type ObjectID struct {
	Plugin string
	Name   string
}

func (id ObjectID) String() string { return id.Plugin + "/" + id.Name }

// Validate checks both parts against the naming rules.
func (id ObjectID) Validate() error {
	if err := ValidatePluginName(id.Plugin); err != nil {
		return err
	}
	return ValidateObjectName(id.Name)
}

// ParseObjectID parses "plugin/name" and validates it.
func ParseObjectID(s string) (ObjectID, error) {
	plugin, name, ok := strings.Cut(s, "/")
	if !ok {
		return ObjectID{}, fmt.Errorf("%w: object id %q is not of the form plugin/name", ErrInvalidName, s)
	}
	id := ObjectID{Plugin: plugin, Name: name}
	return id, id.Validate()
}

// Naming rules. Plugin names appear as the first path segment, where a
// leading "_" is reserved for the host's own routes, so they are a strict
// lower-case slug. Object names are one path segment of URL-unreserved
// characters, so they never need escaping.
const (
	MaxPluginName = 64
	MaxObjectName = 256
)

// ValidatePluginName reports why name is not a valid plugin name: 1–64
// characters of a–z, 0–9, '-' and '_', starting with a letter or digit.
func ValidatePluginName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: plugin name is empty", ErrInvalidName)
	case len(name) > MaxPluginName:
		return fmt.Errorf("%w: plugin name is %d bytes, the limit is %d", ErrInvalidName, len(name), MaxPluginName)
	case name[0] == '-' || name[0] == '_':
		return fmt.Errorf("%w: plugin name %q must start with a letter or digit", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: plugin name %q has %q at byte %d; use a-z, 0-9, '-' and '_'", ErrInvalidName, name, c, i)
		}
	}
	return nil
}

// ValidateObjectName reports why name is not a valid object name: 1–256
// characters of A–Z, a–z, 0–9, '-', '_', '.' and '~', not "." or "..".
func ValidateObjectName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: object name is empty", ErrInvalidName)
	case len(name) > MaxObjectName:
		return fmt.Errorf("%w: object name is %d bytes, the limit is %d", ErrInvalidName, len(name), MaxObjectName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: object name %q is reserved", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return fmt.Errorf("%w: object name %q has %q at byte %d; use A-Z, a-z, 0-9, '-', '_', '.' and '~'", ErrInvalidName, name, c, i)
		}
	}
	return nil
}
