package local

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

func (cl *Cluster) kubeletComponent() component {
	return component{
		name: compKubelet,
		bin:  cl.kubeBin("kubelet"),
		args: []string{
			"--config=" + filepath.Join(cl.p.kubelet, "config.json"),
			"--kubeconfig=" + filepath.Join(cl.p.pki, "kubelet.kubeconfig"),
			"--hostname-override=" + cl.cfg.name,
			"--node-ip=" + cl.cfg.gateway().String(),
			"--root-dir=" + cl.p.kubelet,
			"--cert-dir=" + filepath.Join(cl.p.kubelet, "pki"),
			"--v=1",
		},
		health: func(ctx context.Context) error {
			return httpHealth(ctx, plainClient, "http://127.0.0.1:"+strconv.Itoa(kubeletHealthzPort)+"/healthz", "ok")
		},
		timeout: 60 * time.Second,
	}
}

// waitNodeReady waits until the node reports Ready, or the kubelet exits.
func (cl *Cluster) waitNodeReady(ctx context.Context, kubelet *running, timeout time.Duration) error {
	cs, err := cl.clientset()
	if err != nil {
		return err
	}
	start := time.Now()
	var last string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if kubelet != nil {
			select {
			case <-kubelet.exited:
				return false, fmt.Errorf("kubelet exited: %v", kubelet.err)
			default:
			}
		}
		ready, msg := nodeReady(ctx, cs, cl.cfg.name)
		last = msg
		return ready, nil
	})
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("local: waiting for node %s: %w", cl.cfg.name, err)
	}
	if err != nil {
		return cl.componentError(compKubelet, fmt.Errorf("node %s not Ready: %w (%s)", cl.cfg.name, err, last))
	}
	cl.cfg.logger.Info("node ready", "node", cl.cfg.name, "after", time.Since(start).Round(10*time.Millisecond))
	return nil
}

func nodeReady(ctx context.Context, cs kubernetes.Interface, name string) (bool, string) {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err.Error()
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return true, "Ready"
			}
			return false, strings.TrimSpace(c.Reason + " " + c.Message)
		}
	}
	return false, "no Ready condition yet"
}
