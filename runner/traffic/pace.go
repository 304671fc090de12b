package traffic

import (
	"context"
	"time"
)

// coarseMargin is how long before a deadline a pacer stops waiting on a
// runtime timer (whose wake-ups on Linux round to whole milliseconds) and
// switches to its precise sleep.
const coarseMargin = 2 * time.Millisecond

// waitTimer waits on t until deadline or until ctx is done; it returns
// false if ctx is done.
func waitTimer(ctx context.Context, t *time.Timer, deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t.Reset(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C:
		return true
	}
}
