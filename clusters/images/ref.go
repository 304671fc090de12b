package images

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
)

// dockerHub is the registry host containerd and the kubelet use for
// references without one; go-containerregistry calls it index.docker.io.
const dockerHub = "docker.io"

// NormalizeRef returns ref as containerd and the kubelet see it: with a
// registry host (docker.io by default), the library/ namespace for one-element
// Docker Hub repositories, and a tag ("latest" by default). For example
// "payment:v1" becomes "docker.io/library/payment:v1" and
// "firedrill.dev/pause:3.10" stays as it is. Digest references are rejected:
// an image build needs a tag.
func NormalizeRef(ref string) (string, error) {
	t, err := parseTag(ref)
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

// parseTag parses ref with weak validation and returns a name.Tag whose
// String() is the normalised reference, so the docker archive's RepoTags carry
// the same name that containerd stores.
func parseTag(ref string) (name.Tag, error) {
	if ref == "" {
		return name.Tag{}, fmt.Errorf("images: empty image reference")
	}
	t, err := name.NewTag(ref, name.WeakValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("images: invalid tag %q: %w", ref, err)
	}
	reg := t.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	full := reg + "/" + t.RepositoryStr() + ":" + t.TagStr()
	norm, err := name.NewTag(full, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("images: invalid tag %q: %w", ref, err)
	}
	return norm, nil
}
