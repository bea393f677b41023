package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// pathLists takes the `path:` lists out of the udfs entries of a parsed
// document (a cog mosaic of several files): each list is returned by the
// entry's index and replaced in the document by its first item, so that the
// entry decodes into UDF.Path, a string, as a single path does.
func pathLists(doc *yaml.Node) (map[int][]string, error) {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	udfs := mapValue(root, "udfs")
	if udfs == nil || udfs.Kind != yaml.SequenceNode {
		return nil, nil
	}
	out := map[int][]string{}
	for i, entry := range udfs.Content {
		p := mapValue(entry, "path")
		if p == nil || p.Kind != yaml.SequenceNode {
			continue
		}
		if len(p.Content) == 0 {
			return nil, fmt.Errorf("config: udfs[%d].path: an empty list (line %d): want a file, or a list of files for a mosaic", i, p.Line)
		}
		var list []string
		for k, item := range p.Content {
			if item.Kind != yaml.ScalarNode || item.Value == "" {
				return nil, fmt.Errorf("config: udfs[%d].path[%d]: want a file path (line %d)", i, k, item.Line)
			}
			list = append(list, item.Value)
		}
		out[i] = list
		first := *p.Content[0]
		*p = first
	}
	return out, nil
}

// mapValue is the value of key in a mapping node, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
