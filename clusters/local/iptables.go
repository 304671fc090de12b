package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Chains of our kubelet and kube-proxy: every user-defined chain named
// KUBE-* in these tables. The kubelet creates its canary chains, the
// localnet firewall and KUBE-IPTABLES-HINT; kube-proxy (iptables mode) its
// KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*, KUBE-NODEPORTS, KUBE-POSTROUTING,
// KUBE-MARK-MASQ, KUBE-FORWARD, KUBE-PROXY-FIREWALL, KUBE-PROXY-CANARY...
// with jumps to them from the built-in chains. kube-proxy leaves all of them
// behind when it stops, so teardown removes them.
const kubeChainPrefix = "KUBE-"

var kubeChainTables = []string{"filter", "nat", "mangle"}

var iptablesFamilies = []string{"iptables", "ip6tables"}

// iptablesStatePath records the KUBE-* chains that existed before our
// kubelet and kube-proxy started.
func (cl *Cluster) iptablesStatePath() string {
	return filepath.Join(cl.p.run, "iptables-preexisting")
}

// recordKubeChains notes which KUBE-* chains already exist before our
// kubelet and kube-proxy start, so that teardown removes only the ones
// they created.
func (cl *Cluster) recordKubeChains(ctx context.Context) error {
	var pre []string
	for _, fam := range iptablesFamilies {
		if _, err := lookPath(fam); err != nil {
			continue
		}
		for _, table := range kubeChainTables {
			for _, chain := range kubeChainsIn(ctx, fam, table) {
				pre = append(pre, fam+" "+table+" "+chain)
			}
		}
	}
	if err := os.WriteFile(cl.iptablesStatePath(), []byte(strings.Join(pre, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

// kubeChainsIn lists the KUBE-* chains of a table.
func kubeChainsIn(ctx context.Context, fam, table string) []string {
	out, err := run(ctx, fam, "-w", "5", "-t", table, "-S")
	if err != nil {
		return nil
	}
	var chains []string
	for _, line := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "-N "); ok && strings.HasPrefix(c, kubeChainPrefix) {
			chains = append(chains, c)
		}
	}
	return chains
}

// removeKubeChains deletes the KUBE-* chains that did not exist before our
// kubelet and kube-proxy started, with the rules that jump to them.
// Without a record (the kubelet never started) it does nothing.
func (cl *Cluster) removeKubeChains(ctx context.Context) error {
	data, err := os.ReadFile(cl.iptablesStatePath())
	if err != nil {
		return nil
	}
	pre := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		pre[strings.TrimSpace(l)] = true
	}
	var errs []error
	for _, fam := range iptablesFamilies {
		if _, err := lookPath(fam); err != nil {
			continue
		}
		for _, table := range kubeChainTables {
			var ours []string
			for _, c := range kubeChainsIn(ctx, fam, table) {
				if !pre[fam+" "+table+" "+c] {
					ours = append(ours, c)
				}
			}
			if err := deleteChains(ctx, fam, table, ours); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// deleteChains removes every rule outside chains that jumps to one of
// them, then flushes them all and deletes them (flushing first, so that
// the jumps between them, KUBE-SVC-* to KUBE-SEP-*, do not matter).
func deleteChains(ctx context.Context, fam, table string, chains []string) error {
	if len(chains) == 0 {
		return nil
	}
	set := map[string]bool{}
	for _, c := range chains {
		set[c] = true
	}
	out, err := run(ctx, fam, "-w", "5", "-t", table, "-S")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		f := shellFields(line)
		if len(f) < 2 || f[0] != "-A" || set[f[1]] || !jumpsTo(f, set) {
			continue
		}
		// Re-issue the rule with -D (shellFields keeps quoted comments
		// whole).
		args := append([]string{"-w", "5", "-t", table, "-D"}, f[1:]...)
		if _, err := run(ctx, fam, args...); err != nil {
			return err
		}
	}
	for _, c := range chains {
		if _, err := run(ctx, fam, "-w", "5", "-t", table, "-F", c); err != nil {
			return err
		}
	}
	for _, c := range chains {
		if _, err := run(ctx, fam, "-w", "5", "-t", table, "-X", c); err != nil {
			return err
		}
	}
	return nil
}

// jumpsTo reports whether the rule fields f jump (-j or -g) to a chain in
// set.
func jumpsTo(f []string, set map[string]bool) bool {
	for i := 0; i+1 < len(f); i++ {
		if (f[i] == "-j" || f[i] == "-g") && set[f[i+1]] {
			return true
		}
	}
	return false
}

// shellFields splits an iptables -S line, honouring double quotes.
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	inQ, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
			have = true
		case r == ' ' && !inQ:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}
