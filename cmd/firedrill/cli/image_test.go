package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/clusters/images"
)

// helloFixture is the test program of clusters/images, relative to this
// package's directory.
const helloFixture = "../../../clusters/images/testdata/hello"

func runImageCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newImageCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestImageBuildCommand(t *testing.T) {
	tarPath := filepath.Join(t.TempDir(), "hello.tar")
	out, err := runImageCmd(t, "build", helloFixture,
		"--tag", "hello:v1", "--tag", "hello:v2-buggy",
		"--env", "GREETING=hi",
		"--env", "v2-buggy=FAULT_RATE=0.05",
		"--arg=--listen=:8080",
		"--arg", "hello:v2-buggy=--slow",
		"--port", "8080",
		"--out", tarPath)
	require.NoError(t, err, out)
	require.FileExists(t, tarPath)
	require.Contains(t, out, "docker.io/library/hello:v1")
	require.Contains(t, out, "docker.io/library/hello:v2-buggy")
	require.Contains(t, out, "sha256:")
	require.Contains(t, out, tarPath)

	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(tarPath) })
	require.NoError(t, err)
	var repoTags []string
	for _, d := range manifest {
		repoTags = append(repoTags, d.RepoTags...)
	}
	require.ElementsMatch(t, []string{"docker.io/library/hello:v1", "docker.io/library/hello:v2-buggy"}, repoTags)

	want := map[string]struct{ env, args []string }{
		"hello:v1":       {[]string{"GREETING=hi"}, []string{"--listen=:8080"}},
		"hello:v2-buggy": {[]string{"GREETING=hi", "FAULT_RATE=0.05"}, []string{"--listen=:8080", "--slow"}},
	}
	for ref, w := range want {
		tag, err := name.NewTag(ref)
		require.NoError(t, err)
		img, err := tarball.ImageFromPath(tarPath, &tag)
		require.NoError(t, err, ref)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		require.Equal(t, []string{images.BinaryDir + "/hello"}, cf.Config.Entrypoint, ref)
		require.Equal(t, w.env, cf.Config.Env, ref)
		require.Equal(t, w.args, cf.Config.Cmd, ref)
		require.Contains(t, cf.Config.ExposedPorts, "8080/tcp")
	}
}

func TestImageBuildCommandErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"missing tag", []string{"build", helloFixture, "--out", filepath.Join(dir, "a.tar")}, `"tag"`},
		{"missing out", []string{"build", helloFixture, "--tag", "x:v1"}, `"out"`},
		{"missing package", []string{"build", "--tag", "x:v1", "--out", filepath.Join(dir, "b.tar")}, "accepts 1 arg"},
		{"bad tag", []string{"build", helloFixture, "--tag", "Bad:v1", "--out", filepath.Join(dir, "c.tar")}, `"Bad:v1"`},
		{"bad env", []string{"build", helloFixture, "--tag", "x:v1", "--env", "v1=NOVALUE", "--out", filepath.Join(dir, "d.tar")}, "not KEY=VAL"},
		{"unknown package", []string{"build", "./no/such/pkg", "--tag", "x:v1", "--out", filepath.Join(dir, "e.tar")}, "./no/such/pkg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runImageCmd(t, tc.args...)
			require.Error(t, err, out)
			require.Contains(t, err.Error(), tc.wantErr)
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "failed builds must leave no files")
}

func TestImageTagsSelectors(t *testing.T) {
	tags, err := imageTags(
		[]string{"payment:v1", "ledger:v1", "payment:v2-buggy"},
		[]string{"A=1", "v1=B=2", "payment:v2-buggy=C=3", "docker.io/library/ledger:v1=D=4", "*=v1=5"},
		[]string{"--x", "v2-buggy=--y", "--z=1"},
	)
	require.NoError(t, err)
	require.Equal(t, []string{"A=1", "B=2", "v1=5"}, tags[0].Env)
	require.Equal(t, []string{"A=1", "B=2", "D=4", "v1=5"}, tags[1].Env)
	require.Equal(t, []string{"A=1", "C=3", "v1=5"}, tags[2].Env)
	require.Equal(t, []string{"--x", "--z=1"}, tags[0].Args)
	require.Equal(t, []string{"--x", "--y", "--z=1"}, tags[2].Args)

	_, err = imageTags(nil, nil, nil)
	require.Error(t, err)
	_, err = imageTags([]string{"x:v1"}, []string{"NOEQUALS"}, nil)
	require.ErrorContains(t, err, "NOEQUALS")
}
