package images

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"
)

const helloPkg = "./testdata/hello"

// layerEntries reads the single layer of img and returns its tar headers and
// file contents by path.
func layerEntries(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	headers := map[string]*tar.Header{}
	contents := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		headers[h.Name] = h
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		contents[h.Name] = data
	}
	return headers, contents
}

func loadTag(t *testing.T, path, ref string) v1.Image {
	t.Helper()
	tag, err := name.NewTag(ref)
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(path, &tag)
	require.NoError(t, err, "tag %s in %s", ref, path)
	return img
}

func TestImageBuildTwoTags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out", "hello.tar")
	tags := []Tag{
		{Ref: "hello:v1", Env: []string{"GREETING=hi"}},
		{Ref: "hello:v2-buggy", Env: []string{"GREETING=oops", "FAULT_RATE=0.05"}, Args: []string{"--fault"}},
	}
	built, err := Build(context.Background(), helloPkg, tags, out,
		WithDir("."),
		WithEnv("SHARED=1"),
		WithExtraFile("/etc/hello/config.yaml", []byte("a: 1\n"), 0),
		WithWorkingDir("/app"),
		WithUser("65532:65532"),
		WithExposedPorts("8080"),
		WithLabels(map[string]string{"app": "hello"}),
	)
	require.NoError(t, err)
	require.Equal(t, out, built.Tarball)
	require.Equal(t, "/app/hello", built.Entrypoint)
	require.Positive(t, built.BinarySize)
	require.Len(t, built.Images, 2)
	require.Equal(t, "docker.io/library/hello:v1", built.Images[0].Ref)
	require.Equal(t, "docker.io/library/hello:v2-buggy", built.Images[1].Ref)
	require.NotEqual(t, built.Images[0].Digest, built.Images[1].Digest)
	require.NotEqual(t, built.Images[0].ID, built.Images[1].ID)
	require.FileExists(t, out)

	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	require.NoError(t, err)
	var repoTags []string
	for _, d := range manifest {
		repoTags = append(repoTags, d.RepoTags...)
	}
	require.ElementsMatch(t, []string{"docker.io/library/hello:v1", "docker.io/library/hello:v2-buggy"}, repoTags)

	var layerDigests []v1.Hash
	for i, want := range built.Images {
		img := loadTag(t, out, want.Ref)
		digest, err := img.Digest()
		require.NoError(t, err)
		require.Equal(t, want.Digest, digest.String())

		cf, err := img.ConfigFile()
		require.NoError(t, err)
		require.Equal(t, "linux", cf.OS)
		require.Equal(t, runtime.GOARCH, cf.Architecture)
		require.Equal(t, []string{"/app/hello"}, cf.Config.Entrypoint)
		require.Equal(t, "/app", cf.Config.WorkingDir)
		require.Equal(t, "65532:65532", cf.Config.User)
		require.Contains(t, cf.Config.ExposedPorts, "8080/tcp")
		require.Equal(t, "hello", cf.Config.Labels["app"])
		require.Equal(t, append([]string{"SHARED=1"}, tags[i].Env...), cf.Config.Env)
		if len(tags[i].Args) == 0 {
			require.Empty(t, cf.Config.Cmd)
		} else {
			require.Equal(t, tags[i].Args, cf.Config.Cmd)
		}

		headers, contents := layerEntries(t, img)
		bin, ok := headers["app/hello"]
		require.True(t, ok, "binary missing from layer: %v", headers)
		require.Equal(t, byte(tar.TypeReg), bin.Typeflag)
		require.Equal(t, int64(0o755), bin.Mode&0o777)
		require.Equal(t, built.BinarySize, bin.Size)
		require.Equal(t, []byte("\x7fELF"), contents["app/hello"][:4])
		require.Contains(t, headers, "app/")
		require.Equal(t, []byte("a: 1\n"), contents["etc/hello/config.yaml"])
		require.Equal(t, int64(0o644), headers["etc/hello/config.yaml"].Mode&0o777)

		layers, err := img.Layers()
		require.NoError(t, err)
		d, err := layers[0].Digest()
		require.NoError(t, err)
		layerDigests = append(layerDigests, d)
	}
	require.Equal(t, layerDigests[0], layerDigests[1], "tags must share the binary layer")
	env0, env1 := loadTag(t, out, "hello:v1"), loadTag(t, out, "hello:v2-buggy")
	cf0, err := env0.ConfigFile()
	require.NoError(t, err)
	cf1, err := env1.ConfigFile()
	require.NoError(t, err)
	require.NotEqual(t, cf0.Config.Env, cf1.Config.Env)
	require.NotEqual(t, cf0.Config.Cmd, cf1.Config.Cmd)
}

func TestImageBuildErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out := filepath.Join(dir, "x.tar")
	tests := []struct {
		name    string
		pkg     string
		tags    []Tag
		opts    []Option
		wantErr string
	}{
		{"unknown package", "./testdata/nope", []Tag{{Ref: "x:v1"}}, []Option{WithDir(".")}, "testdata/nope"},
		{"unknown import path", "github.com/firedrill/firedrill/no/such/pkg", []Tag{{Ref: "x:v1"}}, nil, "github.com/firedrill/firedrill/no/such/pkg"},
		{"not a main package", ".", []Tag{{Ref: "x:v1"}}, []Option{WithDir("."), WithEntrypointName("x")}, "main package"},
		{"no tags", helloPkg, nil, nil, "no tags"},
		{"bad tag", helloPkg, []Tag{{Ref: "Bad Tag!:v1"}}, nil, `"Bad Tag!:v1"`},
		{"empty tag", helloPkg, []Tag{{Ref: ""}}, nil, "empty image reference"},
		{"digest ref", helloPkg, []Tag{{Ref: "x@sha256:abc"}}, nil, `"x@sha256:abc"`},
		{"duplicate tags", helloPkg, []Tag{{Ref: "x:v1"}, {Ref: "docker.io/library/x:v1"}}, nil, "both name docker.io/library/x:v1"},
		{"bad env", helloPkg, []Tag{{Ref: "x:v1", Env: []string{"NOEQUALS"}}}, nil, `tag "x:v1"`},
		{"pattern", "./...", []Tag{{Ref: "x:v1"}}, nil, "pattern"},
		{"bad extra file", helloPkg, []Tag{{Ref: "x:v1"}}, []Option{WithExtraFile("rel/path", nil, 0)}, "must be absolute"},
		{"extra file clashes with binary", helloPkg, []Tag{{Ref: "x:v1"}}, []Option{WithDir("."), WithExtraFile("/app/hello", nil, 0)}, "added twice"},
		{"bad binary name", helloPkg, []Tag{{Ref: "x:v1"}}, []Option{WithEntrypointName("a/b")}, "invalid binary name"},
		{"empty output", helloPkg, []Tag{{Ref: "x:v1"}}, nil, "empty output path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := out
			if tc.name == "empty output" {
				o = ""
			}
			require.NotPanics(t, func() {
				built, err := Build(ctx, tc.pkg, tc.tags, o, tc.opts...)
				require.Error(t, err)
				require.Nil(t, built)
				require.Contains(t, err.Error(), tc.wantErr)
			})
			require.NoFileExists(t, out)
		})
	}
}

func TestImageBuildUnknownPackageIsGoBuildError(t *testing.T) {
	_, err := Build(context.Background(), "./testdata/nope", []Tag{{Ref: "x:v1"}}, filepath.Join(t.TempDir(), "x.tar"))
	var gbe *GoBuildError
	require.ErrorAs(t, err, &gbe)
	require.Equal(t, "./testdata/nope", gbe.Package)
	require.NotEmpty(t, gbe.Output)
}

func TestImageBuildCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "x.tar")
	_, err := Build(ctx, helloPkg, []Tag{{Ref: "x:v1"}}, out)
	require.ErrorIs(t, err, context.Canceled)
	require.NoFileExists(t, out)
}

func TestImageNormalizeRef(t *testing.T) {
	tests := map[string]string{
		"payment:v1":                   "docker.io/library/payment:v1",
		"payment":                      "docker.io/library/payment:latest",
		"docker.io/payment:v1":         "docker.io/library/payment:v1",
		"index.docker.io/payment:v1":   "docker.io/library/payment:v1",
		"acme/payment:v1":              "docker.io/acme/payment:v1",
		"firedrill.dev/pause:3.10":     "firedrill.dev/pause:3.10",
		"localhost:5000/payment:v1":    "localhost:5000/payment:v1",
		"localhost:5000/payment":       "localhost:5000/payment:latest",
		"ghcr.io/acme/tools/payment:x": "ghcr.io/acme/tools/payment:x",
	}
	for in, want := range tests {
		got, err := NormalizeRef(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "UPPER:v1", "a:b:c:", "x@sha256:abc", "x:" + strings.Repeat("a", 200)} {
		_, err := NormalizeRef(bad)
		require.Error(t, err, bad)
	}
}

func TestImageBuildPause(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pause.tar")
	built, err := BuildPause(context.Background(), out)
	require.NoError(t, err)
	require.Len(t, built.Images, 1)
	require.Equal(t, PauseImage, built.Images[0].Ref)
	img := loadTag(t, out, PauseImage)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	require.Equal(t, []string{"/app/pause"}, cf.Config.Entrypoint)
	headers, _ := layerEntries(t, img)
	require.Contains(t, headers, "app/pause")
}
