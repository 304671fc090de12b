//go:build !linux

package traffic

import "time"

// preciseSleep sleeps d.
func preciseSleep(d time.Duration) { time.Sleep(d) }
