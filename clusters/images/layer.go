package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the modification time of every layer entry, so that the same
// inputs give the same layer digest.
var epoch = time.Unix(0, 0).UTC()

// layerFile is one regular file of the layer; Path has no leading slash.
type layerFile struct {
	Path    string
	Content []byte
	Mode    fs.FileMode
}

// buildLayer writes files, with their parent directories, into an
// uncompressed tar and wraps it as a gzip layer. Duplicate paths are an error.
func buildLayer(files []layerFile) (v1.Layer, error) {
	seen := map[string]bool{}
	dirs := map[string]bool{}
	for _, f := range files {
		if seen[f.Path] {
			return nil, fmt.Errorf("images: file /%s added twice", f.Path)
		}
		seen[f.Path] = true
		for d := path.Dir(f.Path); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, f := range files {
		if dirs[f.Path] {
			return nil, fmt.Errorf("images: /%s is both a file and a directory", f.Path)
		}
	}
	dirList := make([]string, 0, len(dirs))
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	sorted := append([]layerFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeDir,
			Name:     d + "/",
			Mode:     0o755,
			ModTime:  epoch,
		}); err != nil {
			return nil, fmt.Errorf("images: write layer directory %s: %w", d, err)
		}
	}
	for _, f := range sorted {
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Path,
			Mode:     int64(mode),
			Size:     int64(len(f.Content)),
			ModTime:  epoch,
		}); err != nil {
			return nil, fmt.Errorf("images: write layer file %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Content); err != nil {
			return nil, fmt.Errorf("images: write layer file %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("images: close layer: %w", err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("images: create layer: %w", err)
	}
	return layer, nil
}
