package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestProcNetnsFindsPodByCgroup(t *testing.T) {
	root := t.TempDir()
	write := func(pid, cgroup string) {
		require.NoError(t, os.MkdirAll(filepath.Join(root, pid), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, pid, "cgroup"), []byte(cgroup), 0o644))
	}
	write("1", "0::/init.scope\n")
	write("42", "4:memory:/firedrill/c/kubepods/besteffort/podaaaa-bbbb/abc\n")
	write("17", "4:memory:/kubepods.slice/kubepods-podaaaa_bbbb.slice/cri-containerd-1.scope\n")
	write("99", "4:memory:/firedrill/c/kubepods/besteffort/podcccc-dddd/abc\n")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "self"), 0o755))

	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", UID: "aaaa-bbbb"}}
	pid, err := ProcNetns{Root: root}.PID(context.Background(), p)
	require.NoError(t, err)
	require.Equal(t, 17, pid, "lowest PID, with '-' or '_' in the cgroup path")

	p.UID = "eeee-ffff"
	_, err = ProcNetns{Root: root}.PID(context.Background(), p)
	require.ErrorContains(t, err, "no process of pod")
}

func TestCleanNetnsNothingToDo(t *testing.T) {
	run := &fakeRunner{reply: func(string) (string, error) {
		return "-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n", nil
	}}
	n, err := CleanNetns(context.Background(), run, fakeNetns{}, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-1"}})
	require.NoError(t, err)
	require.Zero(t, n)
	require.Len(t, run.cmds, 2, "only the two reads")
}

func TestAlreadyGone(t *testing.T) {
	require.True(t, alreadyGone("iptables v1.8.9 (nf_tables): Chain 'FIREDRILL-FAULT' does not exist"))
	require.True(t, alreadyGone("Error: Cannot delete qdisc with handle of zero."))
	require.False(t, alreadyGone("iptables: Permission denied"))
}
