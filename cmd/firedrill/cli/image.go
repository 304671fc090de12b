package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/clusters/images"
)

// imageBuildFlags holds the flags of `firedrill image build`.
type imageBuildFlags struct {
	tags    []string
	env     []string
	args    []string
	out     string
	dir     string
	name    string
	workdir string
	user    string
	ports   []string
	labels  []string
	goFlags []string
}

// newImageCmd returns the `image` command and its subcommands.
func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build container images without Docker",
		Long: `Build container images for firedrill's clusters without a Docker engine
or a registry. Images are written as docker-archive tarballs that a cluster
provider loads into containerd (ctr -n k8s.io images import FILE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newImageBuildCmd())
	return cmd
}

// newImageBuildCmd returns `firedrill image build`.
func newImageBuildCmd() *cobra.Command {
	f := &imageBuildFlags{}
	cmd := &cobra.Command{
		Use:   "build PKG --tag REF [--tag REF ...] --out FILE",
		Short: "Compile a Go main package into one image tarball with one or more tags",
		Long: `Compile the Go main package PKG (an import path, or a path relative to --dir)
into a static linux binary (CGO_ENABLED=0, -trimpath, -ldflags "-s -w") and
package it into a minimal image with the binary at /app/<name> as entrypoint.
Every --tag becomes one image in the same docker-archive tarball (--out); all
tags share the binary layer and differ only in their config.

Names without a registry host are normalised the way containerd and the
kubelet see them: "payment:v1" is stored as "docker.io/library/payment:v1".
Pods reference the short name ("payment:v1") with imagePullPolicy: Never.

Per-tag environment and arguments:
  --env SEL=KEY=VAL   applies KEY=VAL only to the tags that SEL selects
  --env KEY=VAL       applies to every tag (when KEY selects no tag)
  --arg SEL=ARG       appends ARG to the arguments of the selected tags
  --arg ARG           appends ARG to every tag (when the text before the first
                      "=" selects no tag; write --arg=--flag for dash args)
SEL selects a tag when it equals the tag as given ("payment:v2-buggy"), its
normalised name ("docker.io/library/payment:v2-buggy") or its tag part
("v2-buggy"); a tag part shared by several tags selects them all. SEL "*"
selects every tag, to force "applies to all" when KEY happens to equal a tag
part. Values apply in the order given, so a later --env for the same KEY wins.`,
		Example: `  # one compile, a good and a deliberately bad version of the demo workload
  firedrill image build ./cmd/payment \
    --tag payment:v1 --tag payment:v2-buggy \
    --env LOG_LEVEL=info \
    --env v2-buggy=FAULT_RATE=0.05 \
    --arg=--listen=:8080 --arg v2-buggy=--slow-ledger \
    --out _output/payment.tar

  # then, on the node: ctr -n k8s.io images import _output/payment.tar`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageBuild(cmd, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "image reference to write, e.g. payment:v1 (repeatable)")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "environment variable [SEL=]KEY=VAL (repeatable; see above)")
	fl.StringArrayVar(&f.args, "arg", nil, "entrypoint argument [SEL=]ARG (repeatable; see above)")
	fl.StringVarP(&f.out, "out", "o", "", "path of the docker-archive tarball to write")
	fl.StringVar(&f.dir, "dir", "", "directory to run go build in, inside the package's module (default: current directory)")
	fl.StringVar(&f.name, "name", "", "binary name under /app (default: last element of PKG)")
	fl.StringVar(&f.workdir, "workdir", "", "working directory of the container")
	fl.StringVar(&f.user, "user", "", "user[:group] the container runs as (default: root)")
	fl.StringArrayVar(&f.ports, "port", nil, "port to declare as exposed, e.g. 8080 or 8080/tcp (repeatable)")
	fl.StringArrayVar(&f.labels, "label", nil, "image label KEY=VAL (repeatable)")
	fl.StringArrayVar(&f.goFlags, "go-flag", nil, "extra flag for go build, e.g. -tags=netgo (repeatable)")
	_ = cmd.MarkFlagRequired("tag")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// runImageBuild runs `firedrill image build`.
func runImageBuild(cmd *cobra.Command, f *imageBuildFlags, pkg string) error {
	tags, err := imageTags(f.tags, f.env, f.args)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	for _, l := range f.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("image build: --label %q must be KEY=VAL", l)
		}
		labels[k] = v
	}
	opts := []images.Option{
		images.WithDir(f.dir),
		images.WithGoFlags(f.goFlags...),
		images.WithWorkingDir(f.workdir),
		images.WithUser(f.user),
		images.WithExposedPorts(f.ports...),
		images.WithLabels(labels),
		images.WithLogger(progressLogger(cmd.ErrOrStderr())),
	}
	if f.name != "" {
		opts = append(opts, images.WithEntrypointName(f.name))
	}

	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Building %s for %d tag(s): %s\n", pkg, len(tags), strings.Join(f.tags, ", "))
	built, err := images.Build(cmd.Context(), pkg, tags, f.out, opts...)
	if err != nil {
		return fmt.Errorf("image build: %w", err)
	}
	fmt.Fprintf(out, "Wrote %s (entrypoint %s, binary %d bytes)\n", built.Tarball, built.Entrypoint, built.BinarySize)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  IMAGE\tDIGEST\tID")
	for _, img := range built.Images {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", img.Ref, img.Digest, img.ID)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("image build: %w", err)
	}
	return nil
}

// progressLogger logs progress messages as plain key=value lines, without
// timestamps.
func progressLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// imageTags turns the --tag, --env and --arg values into images.Tag values,
// resolving the SEL= prefixes described in the command's help.
func imageTags(refs, env, args []string) ([]images.Tag, error) {
	if len(refs) == 0 {
		return nil, fmt.Errorf("image build: at least one --tag is required")
	}
	tags := make([]images.Tag, len(refs))
	norm := make([]string, len(refs))
	for i, ref := range refs {
		n, err := images.NormalizeRef(ref)
		if err != nil {
			return nil, fmt.Errorf("image build: --tag: %w", err)
		}
		tags[i].Ref, norm[i] = ref, n
	}
	selected := func(v string) (rest string, which []int) {
		sel, rest, ok := strings.Cut(v, "=")
		if !ok {
			return v, nil
		}
		for i := range refs {
			if sel == "*" || sel == refs[i] || sel == norm[i] || sel == norm[i][strings.LastIndex(norm[i], ":")+1:] {
				which = append(which, i)
			}
		}
		if which == nil {
			return v, nil
		}
		return rest, which
	}
	all := make([]int, len(refs))
	for i := range all {
		all[i] = i
	}
	for _, v := range env {
		kv, which := selected(v)
		if which == nil {
			which = all
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("image build: --env %q: %q is not KEY=VAL", v, kv)
		}
		for _, i := range which {
			tags[i].Env = append(tags[i].Env, kv)
		}
	}
	for _, v := range args {
		arg, which := selected(v)
		if which == nil {
			which = all
		}
		for _, i := range which {
			tags[i].Args = append(tags[i].Args, arg)
		}
	}
	return tags, nil
}
