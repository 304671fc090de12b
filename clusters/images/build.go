package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BinaryDir is the directory inside the image that holds the binary; the
// entrypoint is BinaryDir/<name>.
const BinaryDir = "/app"

// Tag is one image reference produced by a build. All tags of a build share
// the binary layer; each has its own config.
type Tag struct {
	// Ref is the image reference, e.g. "payment:v1"; it is normalised with
	// NormalizeRef ("docker.io/library/payment:v1").
	Ref string
	// Env holds KEY=VALUE variables for this tag only, after the shared ones
	// from WithEnv.
	Env []string
	// Args are the arguments passed to the entrypoint (the image's Cmd).
	Args []string
}

// Image describes one tag written into the tarball.
type Image struct {
	// Tag is the reference as given in Tag.Ref.
	Tag string
	// Ref is the normalised reference stored in the tarball, which is the
	// name containerd lists after importing it.
	Ref string
	// Digest is the image's manifest digest as go-containerregistry computes
	// it. containerd may store a different manifest digest on import of a
	// docker archive; ID stays the same.
	Digest string
	// ID is the config digest, the image ID that `crictl images` shows.
	ID string
}

// Built is the result of a build.
type Built struct {
	// Tarball is the path of the docker-archive tarball holding every tag.
	Tarball string
	// Entrypoint is the binary's path inside the image.
	Entrypoint string
	// BinarySize is the size of the compiled binary in bytes.
	BinarySize int64
	// Images lists the tags in the order they were given.
	Images []Image
}

// Build compiles the Go main package pkg (an import path or a path relative to
// the WithDir directory) as a static linux binary for the host's GOARCH,
// packages it into one image per tag and writes all of them into one
// docker-archive tarball at out, replacing any file there. It needs a Go
// toolchain on PATH but no Docker engine and no registry.
func Build(ctx context.Context, pkg string, tags []Tag, out string, opts ...Option) (*Built, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if out == "" {
		return nil, fmt.Errorf("images: empty output path")
	}
	refs, err := parseTags(tags)
	if err != nil {
		return nil, err
	}
	binName := o.name
	if binName == "" {
		if binName, err = binaryName(pkg, o.dir); err != nil {
			return nil, err
		}
	} else if pkg == "" {
		return nil, fmt.Errorf("images: empty package path")
	}
	entrypoint := BinaryDir + "/" + binName
	goarch := runtime.GOARCH

	tmp, err := os.MkdirTemp("", "firedrill-image-*")
	if err != nil {
		return nil, fmt.Errorf("images: temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	o.logger.InfoContext(ctx, "building binary", "package", pkg, "goarch", goarch)
	binPath := filepath.Join(tmp, binName)
	if err := goBuild(ctx, pkg, binPath, goarch, o); err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return nil, fmt.Errorf("images: read binary: %w", err)
	}

	files := []layerFile{{Path: entrypoint[1:], Content: bin, Mode: 0o755}}
	for _, f := range o.extraFiles {
		files = append(files, layerFile(f))
	}
	layer, err := buildLayer(files)
	if err != nil {
		return nil, err
	}
	base, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{CreatedBy: "firedrill image build " + pkg, Created: v1.Time{Time: epoch}},
	})
	if err != nil {
		return nil, fmt.Errorf("images: append layer: %w", err)
	}
	baseCfg, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("images: base config: %w", err)
	}

	built := &Built{Entrypoint: entrypoint, BinarySize: int64(len(bin))}
	refToImage := make(map[name.Reference]v1.Image, len(tags))
	for i, t := range tags {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
		cf := baseCfg.DeepCopy()
		cf.OS = "linux"
		cf.Architecture = goarch
		cf.Created = v1.Time{Time: epoch}
		cf.Config = imageConfig(o, entrypoint, t)
		img, err := mutate.ConfigFile(base, cf)
		if err != nil {
			return nil, fmt.Errorf("images: config for tag %q: %w", t.Ref, err)
		}
		digest, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("images: digest for tag %q: %w", t.Ref, err)
		}
		id, err := img.ConfigName()
		if err != nil {
			return nil, fmt.Errorf("images: config digest for tag %q: %w", t.Ref, err)
		}
		refToImage[refs[i]] = img
		built.Images = append(built.Images, Image{Tag: t.Ref, Ref: refs[i].String(), Digest: digest.String(), ID: id.String()})
	}

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	o.logger.InfoContext(ctx, "writing tarball", "path", out, "tags", len(tags))
	if err := writeArchive(out, refToImage); err != nil {
		return nil, err
	}
	built.Tarball = out
	return built, nil
}

// parseTags normalises every tag's reference and rejects an empty list,
// invalid references, bad environment entries and duplicates.
func parseTags(tags []Tag) ([]name.Tag, error) {
	if len(tags) == 0 {
		return nil, fmt.Errorf("images: no tags given")
	}
	refs := make([]name.Tag, len(tags))
	seen := map[string]string{}
	for i, t := range tags {
		ref, err := parseTag(t.Ref)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[ref.String()]; ok {
			return nil, fmt.Errorf("images: tags %q and %q both name %s", prev, t.Ref, ref)
		}
		seen[ref.String()] = t.Ref
		for _, kv := range t.Env {
			if err := checkEnv(kv); err != nil {
				return nil, fmt.Errorf("images: tag %q: %w", t.Ref, err)
			}
		}
		refs[i] = ref
	}
	return refs, nil
}

// imageConfig is the runtime config of one tag.
func imageConfig(o *options, entrypoint string, t Tag) v1.Config {
	cfg := v1.Config{
		Entrypoint: []string{entrypoint},
		WorkingDir: o.workingDir,
		User:       o.user,
	}
	if env := append(append([]string(nil), o.env...), t.Env...); len(env) > 0 {
		cfg.Env = env
	}
	if len(t.Args) > 0 {
		cfg.Cmd = append([]string(nil), t.Args...)
	}
	if len(o.exposedPorts) > 0 {
		cfg.ExposedPorts = map[string]struct{}{}
		for _, p := range o.exposedPorts {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	if len(o.labels) > 0 {
		cfg.Labels = map[string]string{}
		keys := make([]string, 0, len(o.labels))
		for k := range o.labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cfg.Labels[k] = o.labels[k]
		}
	}
	return cfg
}

// writeArchive writes the images to a temporary file next to out and renames
// it into place, so a failed write never leaves a truncated tarball at out.
func writeArchive(out string, refToImage map[name.Reference]v1.Image) error {
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("images: create output directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("images: create tarball: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Close(); err != nil {
		return fmt.Errorf("images: create tarball: %w", err)
	}
	if err := tarball.MultiRefWriteToFile(tmp, refToImage); err != nil {
		return fmt.Errorf("images: write tarball %s: %w", out, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("images: write tarball %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("images: write tarball %s: %w", out, err)
	}
	return nil
}
