// Package local is firedrill's embedded environment: a real, single-node
// Kubernetes cluster started from binaries on the current machine, with no
// Docker engine, no registry and no network traffic leaving the host.
//
// # What runs
//
// Create starts, in order and each behind a health check with a timeout:
//
//	containerd   Debian's containerd with its own --root, --state, --address
//	             and config under the work folder; runc is firedrill's pinned
//	             runc (built with seccomp); the CRI sandbox image is
//	             firedrill's own pause image (images.BuildPause), imported
//	             before any pod starts
//	etcd         one member on 127.0.0.1 (plain HTTP, loopback only)
//	kube-apiserver            on 127.0.0.1:6443, advertising the bridge gateway
//	kube-controller-manager   a lean controller set, no leader election
//	kube-scheduler            no leader election
//	kubelet      cgroupfs driver under its own cgroup root, CNI networking
//	kube-proxy   iptables mode, so Services have a ClusterIP data path;
//	             NodePorts on no address (loopback only, localhostNodePorts
//	             off), healthz and metrics on 127.0.0.1, conntrack sysctls
//	             and its OOM score left alone
//
// and waits until the Node is Ready and kube-proxy has synced. There is
// deliberately no CoreDNS: on a 2-core machine it costs CPU and memory that
// drills need. Pods have no cluster DNS. The API server listens on
// 127.0.0.1 only, so in-cluster clients cannot reach it; controllers under
// test run on the host with the admin kubeconfig.
//
// # Networking and safety
//
// Pods live on a Linux bridge (default fdrill0, 10.244.0.1/24, pod CIDR
// 10.244.0.0/24) created before the API server, which advertises the gateway
// address. The CNI config (bridge + host-local + portmap + loopback from
// /usr/lib/cni) has ipMasq off. Before any pod starts, Create routes the
// service CIDR (10.96.0.0/16, WithServiceCIDR) onto the bridge, with a
// blackhole route of a higher metric behind it, both marked proto 198, and
// installs an iptables chain FIREDRILL-FWD, jumped to from FORWARD, that
// drops forwarded traffic from the pod CIDR to any interface other than the
// bridge, so pod traffic can never leave the machine. The host reaches pod
// IPs directly and pods reach the host at the gateway address. A blackhole
// alone would stop the host's own ClusterIP traffic: a connect() is routed
// before kube-proxy's nat OUTPUT rules DNAT it, and a blackholed
// destination fails that lookup with EINVAL. Routed onto the bridge,
// ClusterIP traffic kube-proxy DNATs reaches a pod, and anything it does
// not is sent onto the bridge, where only our pods are (see setupNetwork).
// A route to the service CIDR (or inside it) without the mark belongs to
// someone else: Create refuses to replace it and teardown never deletes it.
//
// # Work folder
//
// Everything lives in one work folder, by default
// /var/lib/firedrill/clusters/<name> (name "firedrill"; the environment
// variable FIREDRILL_HOME replaces /var/lib/firedrill): certificates,
// kubeconfigs, per-component logs and PID files, etcd data, containerd
// root/state, kubelet root, pod logs and CNI config and IPAM state. The
// admin kubeconfig is <work>/kubeconfig.
//
// The pause image is built from cmd/pause with the Go toolchain (the module
// root is found from the current folder, or WithModuleDir) and a copy is
// cached in <cache>/images/pause.tar, so `firedrill cluster up` also works
// outside the source tree once it has run inside it.
//
// # Lifecycle
//
// Create is idempotent: a healthy running cluster is reused (a running one
// that fails a health check gets 30 s to recover; a missing network safety
// net is reinstalled); a stale or half-started one (after a crash or kill -9
// of firedrill, with components orphaned or dead) is torn down first. If any
// step fails or ctx is cancelled, everything started so far is torn down and
// the error carries the failing component's last log lines.
//
// Components run in their own session (they outlive the firedrill process)
// and in the cgroup firedrill/<name>/components (of the freezer hierarchy on
// cgroup v1, of the single tree on v2); the kubelet's cgroup root is
// firedrill/<name>, so every pod and containerd shim is found through
// cgroups, never by process name. Delete stops the components by PID
// (SIGTERM, then SIGKILL after a grace period), kills whatever is left in
// the cluster's cgroups (v2: cgroup.kill; otherwise frozen first), unmounts
// everything under the work folder deepest first (overlay rootfs, shm,
// kubelet tmpfs and projected volumes, CNI netns), removes the bridge, its
// marked routes and iptables chain, the KUBE-* iptables chains our kubelet
// and kube-proxy created with the jumps to them and the host folders our
// kubelet created (only those that did not exist before), shim sockets and CNI cache entries of our containers, the cgroups
// and the work folder. It is safe to call twice and after a crash.
//
// Create and Delete of one cluster are serialised by a lock file next to the
// work folder. Only one local cluster can run at a time on a machine (the
// ports, bridge and CIDRs are fixed); test binaries that bring one up hold
// LockMachine for as long as it exists.
package local
