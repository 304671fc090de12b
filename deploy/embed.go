package deploy

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed demo/*.yaml engine/*.yaml kind/*.yaml prometheus/*.yaml
//go:embed argo/*.yaml
//go:embed canary/*.yaml
var files embed.FS

// Manifests returns the YAML documents of the files in dir (e.g. "demo"),
// in file-name order.
func Manifests(dir string) ([]byte, error) {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []byte
	for _, n := range names {
		b, err := files.ReadFile(path.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
		out = append(out, []byte("\n---\n")...)
		out = append(out, b...)
	}
	return out, nil
}

// File returns one embedded file, e.g. "prometheus/rules.yaml".
func File(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	return b, nil
}

//go:embed chaosmesh/crds/*.yaml
var chaosMeshCRDs embed.FS

// ChaosMeshCRDs returns the Chaos Mesh CustomResourceDefinitions generated
// from the pinned chaos-mesh API module (hack/gen-chaosmesh-crds.sh), as
// multi-document YAML in file-name order.
func ChaosMeshCRDs() ([]byte, error) {
	entries, err := fs.ReadDir(chaosMeshCRDs, "chaosmesh/crds")
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	var out []byte
	for _, e := range entries { // ReadDir sorts by name
		b, err := chaosMeshCRDs.ReadFile(path.Join("chaosmesh/crds", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
		out = append(out, []byte("\n---\n")...)
		out = append(out, b...)
	}
	return out, nil
}
