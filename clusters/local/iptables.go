package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// kubeletChain is an iptables chain the kubelet creates on start (its
// "canary" chains and the localnet firewall), for IPv4 and IPv6.
type kubeletChain struct{ table, chain string }

var kubeletChains = []kubeletChain{
	{"filter", "KUBE-FIREWALL"},
	{"filter", "KUBE-KUBELET-CANARY"},
	{"nat", "KUBE-KUBELET-CANARY"},
	{"mangle", "KUBE-KUBELET-CANARY"},
	{"mangle", "KUBE-IPTABLES-HINT"},
}

var iptablesFamilies = []string{"iptables", "ip6tables"}

func (cl *Cluster) iptablesStatePath() string {
	return filepath.Join(cl.p.run, "iptables-preexisting")
}

// recordKubeletChains notes which of the kubelet's chains already exist
// before our kubelet starts, so that teardown removes only the ones our
// kubelet created.
func (cl *Cluster) recordKubeletChains(ctx context.Context) error {
	var pre []string
	for _, fam := range iptablesFamilies {
		if _, err := lookPath(fam); err != nil {
			continue
		}
		for _, kc := range kubeletChains {
			if chainExists(ctx, fam, kc.table, kc.chain) {
				pre = append(pre, fam+" "+kc.table+" "+kc.chain)
			}
		}
	}
	if err := os.WriteFile(cl.iptablesStatePath(), []byte(strings.Join(pre, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

func chainExists(ctx context.Context, fam, table, chain string) bool {
	_, err := run(ctx, fam, "-w", "5", "-t", table, "-n", "-L", chain)
	return err == nil
}

// removeKubeletChains deletes the kubelet chains that did not exist before
// our kubelet started, with the rules that jump to them. Without a record
// (the kubelet never started) it does nothing.
func (cl *Cluster) removeKubeletChains(ctx context.Context) error {
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
		for _, kc := range kubeletChains {
			if pre[fam+" "+kc.table+" "+kc.chain] || !chainExists(ctx, fam, kc.table, kc.chain) {
				continue
			}
			if err := deleteChain(ctx, fam, kc.table, kc.chain); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// deleteChain removes every rule that jumps to chain, then flushes and
// deletes it.
func deleteChain(ctx context.Context, fam, table, chain string) error {
	out, err := run(ctx, fam, "-w", "5", "-t", table, "-S")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" || f[1] == chain || !strings.Contains(" "+line+" ", " -j "+chain+" ") {
			continue
		}
		// Re-issue the rule with -D (shellFields keeps quoted comments
		// whole).
		args := append([]string{"-w", "5", "-t", table, "-D"}, shellFields(line)[1:]...)
		if _, err := run(ctx, fam, args...); err != nil {
			return err
		}
	}
	if _, err := run(ctx, fam, "-w", "5", "-t", table, "-F", chain); err != nil {
		return err
	}
	_, err = run(ctx, fam, "-w", "5", "-t", table, "-X", chain)
	return err
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
