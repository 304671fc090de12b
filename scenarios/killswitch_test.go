package scenarios

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
)

func TestKillSwitchSetCheckClear(t *testing.T) {
	ctx := context.Background()
	ks := NewKillSwitch(fake.NewClientset())
	a, err := ks.Check(ctx)
	require.NoError(t, err)
	require.Nil(t, a, "not set on a fresh cluster")

	at := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	require.NoError(t, ks.Set(ctx, Abort{Reason: "INC-1", By: "sre@ops", At: at}))
	a, err = ks.Check(ctx)
	require.NoError(t, err)
	require.Equal(t, &Abort{Reason: "INC-1", By: "sre@ops", At: at}, a)
	require.True(t, errors.Is(a, ErrAborted))
	require.Equal(t, "aborted: kill switch default/firedrill-abort set by sre@ops at 2026-12-07T18:00:00Z: INC-1 (firedrill abort --clear lifts it)", a.Error())

	require.NoError(t, ks.Set(ctx, Abort{Reason: "INC-2", At: at}), "setting it again replaces the record")
	a, err = ks.Check(ctx)
	require.NoError(t, err)
	require.Equal(t, "INC-2", a.Reason)

	was, err := ks.Clear(ctx)
	require.NoError(t, err)
	require.True(t, was)
	was, err = ks.Clear(ctx)
	require.NoError(t, err)
	require.False(t, was, "already lifted")
	a, err = ks.Check(ctx)
	require.NoError(t, err)
	require.Nil(t, a)
}

func TestKillSwitchWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ks := NewKillSwitch(fake.NewClientset())
	var calls atomic.Int32
	done := make(chan *Abort, 1)
	go ks.Watch(ctx, 10*time.Millisecond, func(a *Abort) { calls.Add(1); done <- a })
	require.NoError(t, ks.Set(ctx, Abort{Reason: "stop"}))
	select {
	case a := <-done:
		require.Equal(t, "stop", a.Reason)
	case <-ctx.Done():
		t.Fatal("the watch did not see the switch")
	}
	require.Equal(t, int32(1), calls.Load())
}
