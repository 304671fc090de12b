package local

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkClusterUp measures a full Create until the node is Ready (wall
// seconds) and the resident memory of the control plane right after it
// (sum of VmRSS of the six components, MiB), then deletes the cluster. It
// needs the ports of the shared test cluster, so it deletes that one first.
//
//	sudo go test ./clusters/local -run '^$' -bench ClusterUp -benchtime 1x
func BenchmarkClusterUp(b *testing.B) {
	requireIntegration(b)
	releaseShared(b)
	home := shortHome(b)
	var upSecs, cpMiB, allMiB float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cl := New(WithName("fdbench"), WithHome(home), WithLogger(testLogger()), WithModuleDir(moduleRoot()))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		start := time.Now()
		err := cl.Create(ctx)
		took := time.Since(start)
		cancel()
		if err != nil {
			b.Fatalf("create: %v", err)
		}
		upSecs += took.Seconds()
		for _, pid := range cl.PIDs() {
			cpMiB += float64(vmRSS(pid)) / (1 << 20)
		}
		for _, pid := range cl.cgroupPIDs() {
			allMiB += float64(vmRSS(pid)) / (1 << 20)
		}
		b.StopTimer()
		if err := deleteAndCheckClean(cl, shared.chains); err != nil {
			b.Fatalf("delete: %v", err)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(upSecs/n, "s/up")
	b.ReportMetric(cpMiB/n, "MiB-control-plane-rss")
	b.ReportMetric(allMiB/n, "MiB-all-rss")
}

// vmRSS returns the resident set size of pid in bytes (0 if it is gone).
func vmRSS(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
