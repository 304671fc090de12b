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

// setupNetwork creates the bridge with the gateway address, the routes of
// the service CIDR (onto the bridge, with a blackhole behind it) and the
// FORWARD guard. Each step is idempotent.
//
// Why the service CIDR is routed onto the bridge, not blackholed: a
// connect() from the host to a ClusterIP is routed before the nat OUTPUT
// chain where kube-proxy DNATs it to a pod, and a blackhole route fails
// that first lookup with EINVAL, so no host client (the traffic generator)
// could ever reach a Service (checked by hand in a network namespace: with
// `blackhole 10.96.0.0/16` a DNATed connect fails with "Invalid argument",
// with `10.96.0.0/16 dev <bridge>` it is answered). Routed onto the bridge,
// a ClusterIP packet that kube-proxy DNATs goes to a pod on the bridge;
// one it does not DNAT (no such Service, no endpoints) is sent onto the
// bridge, where only our pods are, and dies unanswered: it stays on the
// machine as surely as with a blackhole. Pod traffic to the service CIDR
// is forwarded bridge to bridge, which the FORWARD guard allows; nothing
// is routed to any other interface. The blackhole route stays as a
// backstop with a higher metric (serviceBlackholeMetric): the bridge route
// wins while the bridge exists, and should the bridge vanish (taking its
// route with it) the service CIDR is blackholed again, never sent to the
// default route.
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
	if err := cl.setupServiceRoutes(ctx); err != nil {
		return err
	}
	return cl.setupForwardChain(ctx)
}

// setupServiceRoutes installs the service CIDR's two routes, both marked
// with routeProto: the backstop blackhole first (so that the range is never
// unrouted), then the route onto the bridge. It first refuses, through
// checkServiceRoute, when the host has a route to that range or inside it
// that the cluster did not make: "replace" below then only ever replaces a
// route of ours (the same destination and metric, e.g. left by a crashed
// run). It records the CIDR for teardown.
func (cl *Cluster) setupServiceRoutes(ctx context.Context) error {
	cfg := cl.cfg
	cidr := cfg.serviceCIDR.Masked()
	out, err := run(ctx, "ip", "-o", "-4", "route", "show")
	if err != nil {
		return fmt.Errorf("local: service CIDR route: %w", err)
	}
	if err := checkServiceRoute(out, cidr); err != nil {
		return err
	}
	if err := cl.recordServiceCIDR(); err != nil {
		return err
	}
	svc := cidr.String()
	if _, err := run(ctx, "ip", "route", "replace", "blackhole", svc, "metric", serviceBlackholeMetric, "proto", routeProto); err != nil {
		return fmt.Errorf("local: service CIDR route: %w", err)
	}
	if _, err := run(ctx, "ip", "route", "replace", svc, "dev", cfg.bridge, "metric", "0", "proto", routeProto); err != nil {
		return fmt.Errorf("local: service CIDR route: %w", err)
	}
	return nil
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
	cidr := cl.recordedServiceCIDR().Masked()
	bridge, blackhole := cl.serviceRoutes(ctx, cidr)
	if !bridge {
		return fmt.Errorf("route of %s to %s (proto %s) missing", cidr, cfg.bridge, routeProto)
	}
	if !blackhole {
		return fmt.Errorf("blackhole route for %s (metric %s, proto %s) missing", cidr, serviceBlackholeMetric, routeProto)
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

// serviceBlackholeMetric is the metric of the backstop blackhole route of
// the service CIDR; the route onto the bridge has metric 0 and wins.
const serviceBlackholeMetric = "4096"

// serviceRoutes reports which of the cluster's two marked routes of cidr
// are in the main table: onto the bridge, and the backstop blackhole.
func (cl *Cluster) serviceRoutes(ctx context.Context, cidr netip.Prefix) (bridge, blackhole bool) {
	out, err := run(ctx, "ip", "-o", "-4", "route", "show", "exact", cidr.Masked().String())
	if err != nil {
		return false, false
	}
	return serviceRoutesIn(out, cidr, cl.cfg.bridge)
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
	// Only our own, marked routes, the one onto the bridge first, then the
	// backstop blackhole: a route to the range someone else made stays.
	cidr := cl.recordedServiceCIDR().Masked()
	if out, err := run(ctx, "ip", "-o", "-4", "route", "show", "exact", cidr.String()); err == nil {
		for _, r := range ourRoutes(out, cidr) {
			if _, err := run(ctx, "ip", append([]string{"route", "del"}, r.delArgs()...)...); err != nil {
				errs = append(errs, err)
			}
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
