//go:build !linux

package traffic

import (
	"context"
	"time"
)

// pacer sleeps the scheduling goroutine until each request's intended send
// time, with the runtime's timers.
type pacer struct {
	timer *time.Timer
}

// newPacer returns a pacer for the calling goroutine.
func newPacer() *pacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pacer{timer: t}
}

// sleep returns at deadline, or false as soon as ctx is done.
func (p *pacer) sleep(ctx context.Context, deadline time.Time) bool {
	return waitTimer(ctx, p.timer, deadline)
}
