package traffic

import (
	"syscall"
	"time"
)

// preciseSleep sleeps d with nanosleep, which wakes within tens of
// microseconds; time.Sleep rounds up to whole milliseconds on Linux, which
// would blur the benchmark server's known latency distribution.
func preciseSleep(d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(int64(left))
		_ = syscall.Nanosleep(&ts, nil)
	}
}
