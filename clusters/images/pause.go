package images

import "context"

const (
	// PauseImage is the reference of firedrill's pod sandbox ("pause")
	// image. The embedded cluster sets containerd's CRI sandbox image to it
	// and imports it before the first pod starts, so no pod ever pulls
	// registry.k8s.io/pause. The tag follows the upstream pause version whose
	// role it plays; the firedrill.dev host is not a registry and is never
	// contacted.
	PauseImage = "firedrill.dev/pause:3.10"

	// PausePackage is the Go package BuildPause compiles.
	PausePackage = "github.com/firedrill/firedrill/cmd/pause"
)

// BuildPause builds the pause image from PausePackage, tags it PauseImage and
// writes it as a docker-archive tarball at out. The build runs in the WithDir
// directory (default: the current one), which must be inside the firedrill
// module.
func BuildPause(ctx context.Context, out string, opts ...Option) (*Built, error) {
	opts = append([]Option{WithEntrypointName("pause")}, opts...)
	return Build(ctx, PausePackage, []Tag{{Ref: PauseImage}}, out, opts...)
}
