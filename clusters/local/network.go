package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// run executes a host command (ip, iptables, ctr) and returns its combined
// output, also in the error. Without a deadline on ctx it gets 30 s.
func run(ctx context.Context, name string, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	bin, err := lookPath(name)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// forwardRules are the rules of our FORWARD chain for an iptables family:
// traffic from the pod CIDR, or arriving from the bridge with any source
// address (a pod could change its own), may only be forwarded back onto the
// bridge (pod to pod); everything else from the pods, which would otherwise
// be routed off the machine, is dropped. IPv6 gets the interface rule.
func (c config) forwardRules(family string) [][]string {
	comment := []string{"-m", "comment", "--comment", "firedrill: pod traffic never leaves the machine"}
	byIface := append([]string{"-i", c.bridge, "!", "-o", c.bridge, "-j", "DROP"}, comment...)
	if family == "ip6tables" {
		return [][]string{byIface}
	}
	return [][]string{
		append([]string{"-s", c.podCIDR.Masked().String(), "!", "-o", c.bridge, "-j", "DROP"}, comment...),
		byIface,
	}
}

// guardFamilies are the iptables families the FORWARD guard is installed
// in; ip6tables is optional on the host.
func guardFamilies() []string {
	out := []string{"iptables"}
	if _, err := lookPath("ip6tables"); err == nil {
		out = append(out, "ip6tables")
	}
	return out
}

// setupNetwork creates the bridge with the gateway address, the blackhole
// route for the service CIDR and the FORWARD guard. Each step is idempotent.
func (cl *Cluster) setupNetwork(ctx context.Context) error {
	cfg := cl.cfg
	if err := checkNoConflict(cfg); err != nil {
		return err
	}
	gw := fmt.Sprintf("%s/%d", cfg.gateway(), cfg.podCIDR.Bits())
	if _, err := net.InterfaceByName(cfg.bridge); err != nil {
		if _, err := run(ctx, "ip", "link", "add", cfg.bridge, "type", "bridge"); err != nil {
			return fmt.Errorf("local: bridge: %w", err)
		}
	}
	out, err := run(ctx, "ip", "-o", "-4", "addr", "show", "dev", cfg.bridge)
	if err != nil {
		return fmt.Errorf("local: bridge: %w", err)
	}
	if !strings.Contains(out, " "+gw+" ") {
		if _, err := run(ctx, "ip", "addr", "add", gw, "dev", cfg.bridge); err != nil {
			return fmt.Errorf("local: bridge: %w", err)
		}
	}
	if _, err := run(ctx, "ip", "link", "set", cfg.bridge, "up"); err != nil {
		return fmt.Errorf("local: bridge: %w", err)
	}
	if err := cl.setupServiceRoute(ctx); err != nil {
		return err
	}
	return cl.setupForwardChain(ctx)
}

// setupServiceRoute installs the blackhole route for the service CIDR,
// marked with routeProto, after checkServiceRoute found no route of
// someone else's to that range; it records the CIDR for teardown.
func (cl *Cluster) setupServiceRoute(ctx context.Context) error {
	cidr := cl.cfg.serviceCIDR.Masked()
	out, err := run(ctx, "ip", "-o", "-4", "route", "show")
	if err != nil {
		return fmt.Errorf("local: service CIDR route: %w", err)
	}
	present, err := checkServiceRoute(out, cidr)
	if err != nil {
		return err
	}
	if err := cl.recordServiceCIDR(); err != nil {
		return err
	}
	if present {
		return nil
	}
	if _, err := run(ctx, "ip", "route", "add", "blackhole", cidr.String(), "proto", routeProto); err != nil {
		return fmt.Errorf("local: service CIDR route: %w", err)
	}
	return nil
}

// ourServiceRoute reports whether the cluster's marked blackhole route for
// cidr is installed.
func ourServiceRoute(ctx context.Context, cidr netip.Prefix) bool {
	out, err := run(ctx, "ip", "-o", "-4", "route", "show", "type", "blackhole")
	if err != nil {
		return false
	}
	for _, r := range parseRoutes(out) {
		if r.ours(cidr) {
			return true
		}
	}
	return false
}

func (cl *Cluster) setupForwardChain(ctx context.Context) error {
	for _, fam := range guardFamilies() {
		if err := cl.setupForwardChainFamily(ctx, fam); err != nil {
			return err
		}
	}
	return nil
}

func (cl *Cluster) setupForwardChainFamily(ctx context.Context, fam string) error {
	ipt := func(args ...string) (string, error) {
		return run(ctx, fam, append([]string{"-w", "5", "-t", "filter"}, args...)...)
	}
	if _, err := ipt("-n", "-L", forwardChain); err != nil {
		if _, err := ipt("-N", forwardChain); err != nil {
			return fmt.Errorf("local: iptables: %w", err)
		}
	}
	if _, err := ipt("-F", forwardChain); err != nil {
		return fmt.Errorf("local: iptables: %w", err)
	}
	for _, r := range cl.cfg.forwardRules(fam) {
		if _, err := ipt(append([]string{"-A", forwardChain}, r...)...); err != nil {
			return fmt.Errorf("local: iptables: %w", err)
		}
	}
	if _, err := ipt("-C", "FORWARD", "-j", forwardChain); err != nil {
		if _, err := ipt("-I", "FORWARD", "1", "-j", forwardChain); err != nil {
			return fmt.Errorf("local: iptables: %w", err)
		}
	}
	return nil
}

// networkInPlace reports whether the safety net is installed (used by
// Status and before reusing a cluster).
func (cl *Cluster) networkInPlace(ctx context.Context) error {
	cfg := cl.cfg
	if _, err := net.InterfaceByName(cfg.bridge); err != nil {
		return fmt.Errorf("bridge %s missing", cfg.bridge)
	}
	if cidr := cl.recordedServiceCIDR(); !ourServiceRoute(ctx, cidr) {
		return fmt.Errorf("blackhole route for %s missing", cidr)
	}
	for _, fam := range guardFamilies() {
		if _, err := run(ctx, fam, "-w", "5", "-C", "FORWARD", "-j", forwardChain); err != nil {
			return fmt.Errorf("%s jump to %s missing", fam, forwardChain)
		}
		for _, r := range cfg.forwardRules(fam) {
			if _, err := run(ctx, fam, append([]string{"-w", "5", "-C", forwardChain}, r...)...); err != nil {
				return fmt.Errorf("%s rule in %s missing", fam, forwardChain)
			}
		}
	}
	return nil
}

// teardownNetwork removes what setupNetwork added. Missing pieces are fine.
func (cl *Cluster) teardownNetwork(ctx context.Context) error {
	cfg := cl.cfg
	var errs []error
	for _, fam := range guardFamilies() {
		for i := 0; i < 10; i++ { // remove every jump, even duplicates
			if _, err := run(ctx, fam, "-w", "5", "-D", "FORWARD", "-j", forwardChain); err != nil {
				break
			}
		}
		if _, err := run(ctx, fam, "-w", "5", "-n", "-L", forwardChain); err == nil {
			if _, err := run(ctx, fam, "-w", "5", "-F", forwardChain); err != nil {
				errs = append(errs, err)
			}
			if _, err := run(ctx, fam, "-w", "5", "-X", forwardChain); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Only our own, marked route: a route to the range someone else made
	// stays.
	if cidr := cl.recordedServiceCIDR().Masked(); ourServiceRoute(ctx, cidr) {
		if _, err := run(ctx, "ip", "route", "del", "blackhole", cidr.String(), "proto", routeProto); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := net.InterfaceByName(cfg.bridge); err == nil {
		if _, err := run(ctx, "ip", "link", "del", cfg.bridge); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkNoConflict refuses to set up the pod network if the pod or service
// CIDR overlaps an address already on another host interface.
func checkNoConflict(cfg config) error {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for _, ifc := range ifaces {
		if ifc.Name == cfg.bridge {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			for _, p := range []string{cfg.podCIDR.Masked().String(), cfg.serviceCIDR.Masked().String()} {
				_, cidr, _ := net.ParseCIDR(p)
				if cidr.Contains(ipn.IP) || ipn.Contains(cidr.IP) {
					return fmt.Errorf("local: %s overlaps %s on %s; choose another CIDR", p, ipn, ifc.Name)
				}
			}
		}
	}
	return nil
}
