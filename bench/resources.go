package bench

import (
	"os"
	"syscall"
	"time"
)

// Usage is a process's CPU time and peak RSS at one moment.
type Usage struct {
	At        time.Time
	CPU       time.Duration
	MaxRSSKiB int64
}

// SelfUsage reads this process's usage (getrusage RUSAGE_SELF).
func SelfUsage() Usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return usageOf(&ru, time.Now())
}

// ChildUsage reads the usage of an exited child process.
func ChildUsage(ps *os.ProcessState) (Usage, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return Usage{}, false
	}
	return usageOf(ru, time.Now()), true
}

func usageOf(ru *syscall.Rusage, at time.Time) Usage {
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// Linux reports ru_maxrss in KiB.
	return Usage{At: at, CPU: cpu, MaxRSSKiB: ru.Maxrss}
}

// Between is the resources used from a to b (the peak RSS is b's: the
// process's peak so far).
func Between(what string, a, b Usage) Resources {
	r := Resources{What: what, WallSeconds: b.At.Sub(a.At).Seconds(), CPUSeconds: (b.CPU - a.CPU).Seconds(), MaxRSSMiB: float64(b.MaxRSSKiB) / 1024}
	if r.WallSeconds > 0 {
		r.CPUPercent = 100 * r.CPUSeconds / r.WallSeconds
	}
	return r
}

// WithEvaluations sets the evaluation count and the CPU per evaluation.
func (r Resources) WithEvaluations(n int64) Resources {
	r.Evaluations = n
	if n > 0 {
		r.CPUMillisPerEvaluation = 1000 * r.CPUSeconds / float64(n)
	}
	return r
}
