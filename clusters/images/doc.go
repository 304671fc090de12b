// Package images builds container images for firedrill without a Docker
// engine and without a registry.
//
// Build compiles one Go main package into a static linux binary
// (CGO_ENABLED=0, -trimpath, -ldflags "-s -w") and packages it with
// go-containerregistry into a minimal image: an empty base, one layer holding
// the binary at /app/<name> (mode 0755) plus any extra files, and an image
// config with the entrypoint, environment, arguments, working directory, user,
// exposed ports and labels. One build can produce several tags that share the
// same binary layer but differ in their config (per-tag Env and Args), which is
// how the demo workload gets a good and a deliberately bad version from one
// compile.
//
// All tags of a build go into ONE docker-archive tarball (the format of
// `docker save`, written by tarball.MultiRefWriteToFile), which containerd
// loads with `ctr -n k8s.io images import FILE`. This package only writes
// tarballs; loading them into a cluster is the job of a clusters.Provider's
// LoadImage.
//
// # Image names
//
// References are parsed with go-containerregistry's name package using weak
// validation and normalised the way containerd and the kubelet see them:
// a reference without a registry host goes to docker.io, and a one-element
// repository gets the library/ namespace, so "payment:v1" is written into the
// archive as "docker.io/library/payment:v1". A missing tag becomes "latest".
// Pods should reference the short name ("payment:v1") with
// imagePullPolicy: Never; the kubelet normalises it to the same full name and
// finds the imported image without trying to pull.
//
// # The pause image
//
// BuildPause builds firedrill's own pod sandbox image from cmd/pause and tags
// it PauseImage, so that the embedded cluster never needs registry.k8s.io.
// The cluster provider must point containerd's CRI sandbox image setting at
// PauseImage and import the archive before the first pod starts.
package images
