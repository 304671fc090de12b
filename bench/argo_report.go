package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ArgoReport is what the Argo Rollouts side-by-side benchmark writes to
// _out/bench/argo.json: one PeerResult per setting, with where and how they
// were measured.
type ArgoReport struct {
	// Peer and Version name the controller.
	Peer    string `json:"peer"`
	Version string `json:"version"`
	// Command reproduces the measurement.
	Command string `json:"command"`
	// Machine is where it ran.
	Machine Machine `json:"machine"`
	// Started and Finished bound the benchmark.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// BuildSeconds is the controller's cold build time, as
	// hack/build-argo-rollouts.sh recorded it in the tool cache (0 if not
	// recorded).
	BuildSeconds int `json:"buildSeconds,omitempty"`
	// ControllerLog is the controller's log file.
	ControllerLog string `json:"controllerLog,omitempty"`
	// Results holds one run per setting, in the order run.
	Results []PeerResult `json:"results"`
}

// Machine describes the machine a benchmark ran on.
type Machine struct {
	Hostname string `json:"hostname"`
	CPUs     int    `json:"cpus"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Kernel   string `json:"kernel,omitempty"`
}

// ThisMachine describes the running machine.
func ThisMachine() Machine {
	h, _ := os.Hostname()
	k, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return Machine{Hostname: h, CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Kernel: strings.TrimSpace(string(k))}
}

// ReadBuildSeconds reads the build-seconds file that
// hack/build-argo-rollouts.sh leaves in a build folder (0 if absent).
func ReadBuildSeconds(toolDir string) int {
	b, err := os.ReadFile(filepath.Join(toolDir, "build-seconds"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// WriteJSON writes v as indented JSON to path, creating its folder; the
// file is replaced atomically, so a reader never sees half of it.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
