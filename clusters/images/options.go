package images

import (
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
)

// Option configures Build and BuildPause.
type Option func(*options) error

// ExtraFile is a file added to the image layer next to the binary.
type ExtraFile struct {
	// Path is the absolute path of the file inside the image, e.g.
	// "/etc/payment/config.yaml".
	Path string
	// Content is the file's content.
	Content []byte
	// Mode is the file's permission bits; zero means 0644.
	Mode fs.FileMode
}

type options struct {
	dir          string
	goFlags      []string
	extraFiles   []ExtraFile
	name         string
	env          []string
	workingDir   string
	user         string
	exposedPorts []string
	labels       map[string]string
	logger       *slog.Logger
}

func newOptions(opts []Option) (*options, error) {
	o := &options{labels: map[string]string{}}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// WithDir sets the directory `go build` runs in, normally the root of the Go
// module that holds the package. The default is the current directory.
func WithDir(dir string) Option {
	return func(o *options) error {
		o.dir = dir
		return nil
	}
}

// WithGoFlags adds flags to the `go build` command line, after the defaults
// (-trimpath -ldflags "-s -w") and before the package, e.g. "-tags=netgo".
// A later -ldflags replaces the default one.
func WithGoFlags(flags ...string) Option {
	return func(o *options) error {
		o.goFlags = append(o.goFlags, flags...)
		return nil
	}
}

// WithExtraFile adds a file at the absolute path p inside the image with the
// given content and mode (zero mode means 0644). Parent directories are
// created with mode 0755.
func WithExtraFile(p string, content []byte, mode fs.FileMode) Option {
	return func(o *options) error {
		clean, err := imagePath(p)
		if err != nil {
			return fmt.Errorf("images: extra file: %w", err)
		}
		o.extraFiles = append(o.extraFiles, ExtraFile{Path: clean, Content: content, Mode: mode})
		return nil
	}
}

// WithEntrypointName sets the binary's file name, so the entrypoint becomes
// /app/<name>. The default is the last element of the package path.
func WithEntrypointName(name string) Option {
	return func(o *options) error {
		if err := checkBinaryName(name); err != nil {
			return err
		}
		o.name = name
		return nil
	}
}

// WithEnv adds KEY=VALUE environment variables shared by every tag; a tag's
// own Env comes after them and so wins on a duplicate key.
func WithEnv(env ...string) Option {
	return func(o *options) error {
		for _, kv := range env {
			if err := checkEnv(kv); err != nil {
				return err
			}
		}
		o.env = append(o.env, env...)
		return nil
	}
}

// WithWorkingDir sets the image's working directory (default: none, which
// container runtimes treat as "/").
func WithWorkingDir(dir string) Option {
	return func(o *options) error {
		o.workingDir = dir
		return nil
	}
}

// WithUser sets the user (and optional group) the entrypoint runs as, e.g.
// "65532:65532". The default is empty, i.e. root.
func WithUser(user string) Option {
	return func(o *options) error {
		o.user = user
		return nil
	}
}

// WithExposedPorts declares ports in the image config, e.g. "8080/tcp" or
// "8080" (tcp is assumed).
func WithExposedPorts(ports ...string) Option {
	return func(o *options) error {
		for _, p := range ports {
			if p == "" {
				return fmt.Errorf("images: empty exposed port")
			}
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			o.exposedPorts = append(o.exposedPorts, p)
		}
		return nil
	}
}

// WithLabels adds image config labels.
func WithLabels(labels map[string]string) Option {
	return func(o *options) error {
		for k, v := range labels {
			o.labels[k] = v
		}
		return nil
	}
}

// WithLogger sets the logger for progress messages; the default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// imagePath checks that p is an absolute, clean path below "/" and returns it
// without the leading slash, as tar entries are written.
func imagePath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q must be absolute", p)
	}
	clean := path.Clean(p)
	if clean == "/" {
		return "", fmt.Errorf("path %q names the root directory", p)
	}
	return strings.TrimPrefix(clean, "/"), nil
}

func checkBinaryName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("images: invalid binary name %q", name)
	}
	return nil
}

func checkEnv(kv string) error {
	k, _, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("images: environment variable %q must be KEY=VALUE", kv)
	}
	return nil
}
