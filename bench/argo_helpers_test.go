package bench

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"sigs.k8s.io/yaml"
)

// sigsYAML decodes YAML the way objects from the API server decode:
// integers as int64.
func sigsYAML(s string, out *map[string]any) error {
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		return err
	}
	var u unstructured.Unstructured
	if err := u.UnmarshalJSON(j); err != nil {
		return err
	}
	*out = u.Object
	return nil
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("%q is not once in the fixture", old)
	}
	return strings.Replace(s, old, new, 1)
}
