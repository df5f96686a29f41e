package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// PolicySource is a policy given in the configuration: a file path, or the JSON
// document inline (as a string starting with "{", or as a YAML/JSON mapping).
type PolicySource struct {
	// File is the policy file, resolved against the config folder; empty when inline.
	File string
	// JSON is the policy text: the inline document, or the file's content once loaded.
	JSON []byte
	// Compiled is the policy engine's compiled form, set by Load.
	Compiled Compiled
	line     int
}

// Name says where the policy came from, for messages.
func (p PolicySource) Name() string {
	if p.File != "" {
		return p.File
	}
	return fmt.Sprintf("inline policy (line %d)", p.line)
}

// UnmarshalYAML accepts a path, an inline JSON string, or a mapping.
func (p *PolicySource) UnmarshalYAML(n *yaml.Node) error {
	p.line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		v := strings.TrimSpace(n.Value)
		if v == "" {
			return fmt.Errorf("line %d: a policy must be a file path or a JSON document, not empty", n.Line)
		}
		if strings.HasPrefix(v, "{") {
			p.JSON = []byte(v)
			return nil
		}
		p.File = v
		return nil
	case yaml.MappingNode:
		var doc any
		if err := n.Decode(&doc); err != nil {
			return err
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("line %d: inline policy cannot be turned into JSON: %w", n.Line, err)
		}
		p.JSON = b
		return nil
	default:
		return fmt.Errorf("line %d: a policy must be a file path or a JSON document", n.Line)
	}
}

// MarshalYAML writes the file path, or the inline JSON.
func (p PolicySource) MarshalYAML() (any, error) {
	if p.File != "" {
		return p.File, nil
	}
	return string(p.JSON), nil
}
