package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The cluster-wide kill switch: while the ConfigMap KillSwitchName exists
// in KillSwitchNamespace, no drill starts and every running drill stops
// and removes its faults (firedrill abort sets it, firedrill abort --clear
// lifts it).
const (
	KillSwitchNamespace = "default"
	KillSwitchName      = "firedrill-abort"
)

// ErrAborted: the kill switch is set.
var ErrAborted = errors.New("aborted")

// Abort is a set kill switch.
type Abort struct {
	// Reason is what the person who set it gave.
	Reason string
	// By names who set it (user@host).
	By string
	// At is when it was set.
	At time.Time
}

// Error implements error; it matches ErrAborted.
func (a *Abort) Error() string {
	msg := fmt.Sprintf("aborted: kill switch %s/%s set", KillSwitchNamespace, KillSwitchName)
	if a.By != "" {
		msg += " by " + a.By
	}
	if !a.At.IsZero() {
		msg += " at " + a.At.UTC().Format(time.RFC3339)
	}
	if a.Reason != "" {
		msg += ": " + a.Reason
	}
	return msg + " (firedrill abort --clear lifts it)"
}

// Is makes errors.Is(a, ErrAborted) true.
func (a *Abort) Is(target error) bool { return target == ErrAborted }

// KillSwitch reads and writes the kill switch.
type KillSwitch struct {
	client kubernetes.Interface
}

// NewKillSwitch returns the kill switch of the cluster behind client.
func NewKillSwitch(client kubernetes.Interface) *KillSwitch { return &KillSwitch{client: client} }

// Check returns the set switch, or nil when it is not set.
func (k *KillSwitch) Check(ctx context.Context) (*Abort, error) {
	cm, err := k.client.CoreV1().ConfigMaps(KillSwitchNamespace).Get(ctx, KillSwitchName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scenarios: kill switch %s/%s: %w", KillSwitchNamespace, KillSwitchName, err)
	}
	a := &Abort{Reason: cm.Data["reason"], By: cm.Data["by"]}
	if t, err := time.Parse(time.RFC3339Nano, cm.Data["at"]); err == nil {
		a.At = t
	} else {
		a.At = cm.CreationTimestamp.Time
	}
	return a, nil
}

// Set sets the switch with a reason, who set it and when; setting it again
// replaces them.
func (k *KillSwitch) Set(ctx context.Context, a Abort) error {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: KillSwitchName, Namespace: KillSwitchNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "firedrill"}},
		Data: map[string]string{"reason": a.Reason, "by": a.By, "at": a.At.UTC().Format(time.RFC3339Nano)},
	}
	cms := k.client.CoreV1().ConfigMaps(KillSwitchNamespace)
	_, err := cms.Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("scenarios: setting the kill switch %s/%s: %w", KillSwitchNamespace, KillSwitchName, err)
	}
	return nil
}

// Clear lifts the switch; it reports whether it was set.
func (k *KillSwitch) Clear(ctx context.Context) (bool, error) {
	err := k.client.CoreV1().ConfigMaps(KillSwitchNamespace).Delete(ctx, KillSwitchName, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("scenarios: lifting the kill switch %s/%s: %w", KillSwitchNamespace, KillSwitchName, err)
	}
	return true, nil
}

// Watch polls the switch every interval until ctx ends and calls abort
// once, with the set switch, when it is set. A read that fails is tried
// again at the next poll: a drill is not stopped because the API server
// did not answer once.
func (k *KillSwitch) Watch(ctx context.Context, interval time.Duration, abort func(*Abort)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if a, err := k.Check(ctx); err == nil && a != nil {
			abort(a)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
