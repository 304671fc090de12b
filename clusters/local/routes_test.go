package local

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRoutes(t *testing.T) {
	out := "default via 192.0.2.1 dev eth0 \n" +
		"192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2 \n" +
		"blackhole 10.96.0.0/16 proto 198 metric 4096 \n" +
		"unreachable 10.1.2.3 \n" +
		"garbage\n\n"
	got := parseRoutes(out)
	require.Len(t, got, 3)
	require.Equal(t, hostRoute{typ: "unicast", prefix: netip.MustParsePrefix("192.0.2.0/24"), dev: "eth0", proto: "kernel", metric: "0",
		line: "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2"}, got[0])
	require.Equal(t, "blackhole", got[1].typ)
	require.Equal(t, routeProto, got[1].proto)
	require.Equal(t, serviceBlackholeMetric, got[1].metric)
	require.Equal(t, netip.MustParsePrefix("10.1.2.3/32"), got[2].prefix)
	require.Equal(t, "unreachable", got[2].typ)
}

func TestCheckServiceRoute(t *testing.T) {
	cidr := netip.MustParsePrefix("10.96.0.0/16")
	base := "default via 192.0.2.1 dev eth0 \n192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2 \n"
	tests := []struct {
		name    string
		out     string
		wantErr string
	}{
		{name: "no route to the range", out: base},
		{name: "a wider route is fine", out: base + "10.0.0.0/8 via 192.0.2.1 dev eth0 \n"},
		{name: "our own routes from a crashed run", out: base +
			"10.96.0.0/16 dev fdrill0 proto 198 scope link linkdown \nblackhole 10.96.0.0/16 proto 198 metric 4096 \n"},
		{name: "our metric-0 blackhole of an older version", out: base + "blackhole 10.96.0.0/16 proto 198 \n"},
		{name: "someone's unicast route to the range", out: base + "10.96.0.0/16 via 192.0.2.7 dev eth0 \n",
			wantErr: `route "10.96.0.0/16 via 192.0.2.7 dev eth0"`},
		{name: "someone's blackhole without our mark", out: base + "blackhole 10.96.0.0/16 \n",
			wantErr: `route "blackhole 10.96.0.0/16"`},
		{name: "someone's backstop-like blackhole without our mark", out: base + "blackhole 10.96.0.0/16 metric 4096 \n",
			wantErr: "`ip route del blackhole 10.96.0.0/16 metric 4096`"},
		{name: "a route onto a bridge without our mark", out: base + "10.96.0.0/16 dev fdrill0 scope link \n",
			wantErr: "an older firedrill, which did not mark its routes, left it behind, remove it with `ip route del 10.96.0.0/16 dev fdrill0 metric 0`"},
		{name: "a blackhole with another protocol", out: base + "blackhole 10.96.0.0/16 proto static \n",
			wantErr: "--service-cidr"},
		{name: "a more specific route inside the range", out: base + "10.96.4.0/24 dev eth1 proto kernel \n",
			wantErr: `route "10.96.4.0/24 dev eth1 proto kernel" inside the service CIDR 10.96.0.0/16`},
		{name: "a more specific route inside the range, even with our mark", out: base + "blackhole 10.96.4.0/24 proto 198 \n",
			wantErr: `route "blackhole 10.96.4.0/24 proto 198"`},
		{name: "a host route inside the range", out: base + "10.96.0.10 via 192.0.2.1 dev eth0 \n",
			wantErr: "10.96.0.10 via"},
		{name: "our route next to someone else's inside it", out: base + "blackhole 10.96.0.0/16 proto 198 metric 4096 \n10.96.9.0/24 dev eth2 \n",
			wantErr: "10.96.9.0/24 dev eth2"},
		{name: "a neighbouring range", out: base + "10.97.0.0/16 via 192.0.2.7 dev eth0 \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkServiceRoute(tt.out, cidr)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorContains(t, err, "firedrill cluster up --service-cidr")
				return
			}
			require.NoError(t, err)
		})
	}
	// A gateway route is nothing an older firedrill made: no hint.
	err := checkServiceRoute(base+"10.96.0.0/16 via 192.0.2.7 dev eth0 \n", cidr)
	require.NotContains(t, err.Error(), "older firedrill")
}

// Status and reuse see both of our routes, or which one is missing; a
// route without our mark, or the backstop at another metric, is not ours.
func TestServiceRoutesIn(t *testing.T) {
	cidr := netip.MustParsePrefix("10.96.0.0/16")
	both := "10.96.0.0/16 dev fdrill0 proto 198 scope link \nblackhole 10.96.0.0/16 proto 198 metric 4096 \n"
	bridge, blackhole := serviceRoutesIn(both, cidr, "fdrill0")
	require.True(t, bridge)
	require.True(t, blackhole)

	bridge, blackhole = serviceRoutesIn(both, cidr, "fdrill1")
	require.False(t, bridge, "onto another bridge")
	require.True(t, blackhole)

	bridge, blackhole = serviceRoutesIn("10.96.0.0/16 dev fdrill0 scope link \nblackhole 10.96.0.0/16 metric 4096 \n", cidr, "fdrill0")
	require.False(t, bridge, "unmarked")
	require.False(t, blackhole, "unmarked")

	_, blackhole = serviceRoutesIn("blackhole 10.96.0.0/16 proto 198 \n", cidr, "fdrill0")
	require.False(t, blackhole, "metric 0 is no backstop")
}

// Teardown deletes exactly our marked routes to the range, the one onto
// the bridge first, and nothing of anyone else's.
func TestOurRoutesDelArgs(t *testing.T) {
	cidr := netip.MustParsePrefix("10.96.0.0/16")
	out := "blackhole 10.96.0.0/16 proto 198 metric 4096 \n" +
		"blackhole 10.96.0.0/16 metric 5 \n" +
		"10.96.0.0/16 dev fdrill0 proto 198 scope link linkdown \n" +
		"blackhole 10.96.0.0/16 proto 198 \n" +
		"10.96.0.0/16 via 192.0.2.7 dev eth0 metric 100 \n"
	var got [][]string
	for _, r := range ourRoutes(out, cidr) {
		got = append(got, r.delArgs())
	}
	require.Equal(t, [][]string{
		{"10.96.0.0/16", "dev", "fdrill0", "proto", "198", "metric", "0"},
		{"blackhole", "10.96.0.0/16", "proto", "198", "metric", "4096"},
		{"blackhole", "10.96.0.0/16", "proto", "198", "metric", "0"},
	}, got)
}

func TestRecordedServiceCIDR(t *testing.T) {
	home := t.TempDir()
	custom := netip.MustParsePrefix("10.112.0.0/16")
	up := New(WithHome(home), WithServiceCIDR(custom))
	require.Equal(t, custom, up.ServiceCIDR())
	require.NoError(t, up.recordServiceCIDR())

	// `cluster down` without --service-cidr finds the recorded range.
	down := New(WithHome(home))
	require.Equal(t, netip.MustParsePrefix(DefaultServiceCIDR), down.ServiceCIDR())
	require.Equal(t, custom, down.recordedServiceCIDR())

	// Unreadable or missing: the configured one.
	require.NoError(t, os.WriteFile(filepath.Join(down.WorkDir(), serviceCIDRFile), []byte("nonsense"), 0o644))
	require.Equal(t, netip.MustParsePrefix(DefaultServiceCIDR), down.recordedServiceCIDR())
	require.Equal(t, custom, New(WithHome(t.TempDir()), WithServiceCIDR(custom)).recordedServiceCIDR())
}
