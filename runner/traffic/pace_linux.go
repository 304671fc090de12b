package traffic

import (
	"context"
	"runtime"
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK.
const prSetTimerSlack = 29

// pacer sleeps the scheduling goroutine until each request's intended send
// time. Go's runtime timers wake up to a millisecond late on Linux (the
// netpoller waits in whole milliseconds), which at hundreds of requests per
// second would add that lag to every measured latency. So the pacer locks
// its goroutine to an OS thread, lowers that thread's timer slack to 1ns and
// sleeps the last stretch with nanosleep, which wakes within tens of
// microseconds. The goroutine must not unlock the thread: the runtime then
// ends the thread with the goroutine, and the changed slack with it.
type pacer struct {
	timer *time.Timer
}

// newPacer must be called on the goroutine that will call sleep, which it
// locks to its thread for good.
func newPacer() *pacer {
	runtime.LockOSThread()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0) // best effort
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pacer{timer: t}
}

// sleep returns at deadline, or false as soon as ctx is done (checked
// every coarse wait, so within a few milliseconds).
func (p *pacer) sleep(ctx context.Context, deadline time.Time) bool {
	if time.Until(deadline) > 2*coarseMargin {
		if !waitTimer(ctx, p.timer, deadline.Add(-coarseMargin)) {
			return false
		}
	}
	for {
		d := time.Until(deadline)
		if d <= 0 {
			return ctx.Err() == nil
		}
		ts := syscall.NsecToTimespec(int64(d))
		_ = syscall.Nanosleep(&ts, nil) // EINTR: loop and sleep the rest
	}
}
