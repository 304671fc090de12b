package local

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// routeProto marks the routes a cluster creates for its service CIDR (onto
// the bridge, and the backstop blackhole; `ip route ... proto 198`): a
// route to that range without the mark was made by someone else and is
// never replaced or deleted. 198 is not assigned in iproute2's rt_protos.
const routeProto = "198"

// serviceCIDRFile, in the work folder, records the service CIDR the
// cluster's routes were made for, so that `cluster down` and
// `cluster status` without --service-cidr find the right route.
const serviceCIDRFile = "service-cidr"

// hostRoute is one line of `ip -o route show`.
type hostRoute struct {
	typ    string // "unicast" when ip prints no type
	prefix netip.Prefix
	dev    string
	proto  string
	metric string // "0" when ip prints none
	line   string
}

// routeTypes are the route types ip prints before the destination.
var routeTypes = map[string]bool{
	"unicast": true, "local": true, "broadcast": true, "multicast": true, "throw": true,
	"unreachable": true, "prohibit": true, "blackhole": true, "nat": true, "anycast": true,
}

// parseRoutes parses IPv4 `ip -o route show` output; lines it cannot read
// (e.g. "default") are skipped.
func parseRoutes(out string) []hostRoute {
	var routes []hostRoute
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		r := hostRoute{typ: "unicast", metric: "0", line: strings.TrimSpace(line)}
		if routeTypes[f[0]] {
			r.typ, f = f[0], f[1:]
		}
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			continue
		}
		r.prefix = p.Masked()
		for i := 1; i+1 < len(f); i++ {
			switch f[i] {
			case "dev":
				r.dev = f[i+1]
			case "proto":
				r.proto = f[i+1]
			case "metric":
				r.metric = f[i+1]
			}
		}
		routes = append(routes, r)
	}
	return routes
}

// ours reports whether r is a route a cluster made for cidr: to exactly
// that range and marked with routeProto (onto the bridge, the backstop
// blackhole, or the metric-0 blackhole of versions before the route onto
// the bridge).
func (r hostRoute) ours(cidr netip.Prefix) bool {
	return r.prefix == cidr.Masked() && r.proto == routeProto
}

// delArgs are the arguments of `ip route del` that remove exactly r.
func (r hostRoute) delArgs() []string {
	var args []string
	if r.typ != "unicast" {
		args = append(args, r.typ)
	}
	args = append(args, r.prefix.String())
	if r.dev != "" {
		args = append(args, "dev", r.dev)
	}
	if r.proto != "" {
		args = append(args, "proto", r.proto)
	}
	return append(args, "metric", r.metric)
}

// ourRoutes are the routes of `ip -o route show` output that a cluster
// made for cidr, in the order teardown deletes them: the routes onto the
// bridge before the blackholes, so that the range stays blackholed until
// its last route goes.
func ourRoutes(out string, cidr netip.Prefix) []hostRoute {
	var unicast, other []hostRoute
	for _, r := range parseRoutes(out) {
		switch {
		case !r.ours(cidr):
		case r.typ == "unicast":
			unicast = append(unicast, r)
		default:
			other = append(other, r)
		}
	}
	return append(unicast, other...)
}

// serviceRoutesIn reports which of the two routes setupServiceRoutes
// installs for cidr are in `ip -o route show` output: onto bridge, and
// the backstop blackhole with serviceBlackholeMetric.
func serviceRoutesIn(out string, cidr netip.Prefix, bridgeName string) (bridge, blackhole bool) {
	for _, r := range parseRoutes(out) {
		if !r.ours(cidr) {
			continue
		}
		switch {
		case r.typ == "unicast" && r.dev == bridgeName:
			bridge = true
		case r.typ == "blackhole" && r.metric == serviceBlackholeMetric:
			blackhole = true
		}
	}
	return bridge, blackhole
}

// checkServiceRoute decides from `ip -o route show` (main table) whether
// the routes for cidr may be installed: it refuses when a route to cidr or
// to a range inside it exists that the cluster did not make (replacing it
// would cut off what uses it; leaving a more specific one would let
// service addresses leave the machine). Routes of ours, e.g. from a
// crashed run, are fine.
func checkServiceRoute(out string, cidr netip.Prefix) error {
	cidr = cidr.Masked()
	for _, r := range parseRoutes(out) {
		if r.ours(cidr) {
			continue
		}
		if r.prefix.Bits() >= cidr.Bits() && cidr.Contains(r.prefix.Addr()) {
			hint := ""
			if r.prefix == cidr && (r.typ == "blackhole" || r.dev != "" && !strings.Contains(r.line, " via ")) {
				// Versions before the mark installed unmarked routes of
				// this shape; only the user can tell whose it is.
				hint = fmt.Sprintf(" (if an older firedrill, which did not mark its routes, left it behind, remove it with `ip route del %s`)",
					strings.Join(r.delArgs(), " "))
			}
			return fmt.Errorf("local: the host already has a route %q inside the service CIDR %s that firedrill did not create; "+
				"it is left alone: pick another range with `firedrill cluster up --service-cidr CIDR` (e.g. 10.112.0.0/16)%s", r.line, cidr, hint)
		}
	}
	return nil
}

// recordServiceCIDR writes the service CIDR into the work folder.
func (cl *Cluster) recordServiceCIDR() error {
	if err := os.MkdirAll(cl.p.work, 0o755); err != nil {
		return fmt.Errorf("local: record service CIDR: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cl.p.work, serviceCIDRFile), []byte(cl.cfg.serviceCIDR.Masked().String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("local: record service CIDR: %w", err)
	}
	return nil
}

// recordedServiceCIDR is the service CIDR the running (or stale) cluster
// was made with: the recorded one, else the configured one.
func (cl *Cluster) recordedServiceCIDR() netip.Prefix {
	b, err := os.ReadFile(filepath.Join(cl.p.work, serviceCIDRFile))
	if err != nil {
		return cl.cfg.serviceCIDR
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(string(b)))
	if err != nil {
		return cl.cfg.serviceCIDR
	}
	return p
}
