package runner

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/firedrill/firedrill/drills"
)

// MinScrapesPerWindow is how many scrape intervals a PromQL range must span
// at least: rate() needs two samples in its window, and a window of four
// intervals still holds two when a scrape is late or fails.
const MinScrapesPerWindow = 4

var promParser = parser.NewParser(parser.Options{})

// scrapeIntervalLabel is the discovered label Prometheus sets from the
// scrape config's scrape_interval (the API's own scrapeInterval field is not
// decoded by client_golang's ActiveTarget).
const scrapeIntervalLabel = model.ScrapeIntervalLabel

// podLabelPairs are the (namespace, pod) label pairs that identify a pod's
// target: the final labels of the usual kubernetes_sd relabelings, then the
// discovered meta labels.
var podLabelPairs = [][2]string{
	{"namespace", "pod"},
	{"kubernetes_namespace", "kubernetes_pod_name"},
}

// scrapeInterval returns the longest scrape interval among Prometheus's
// active targets that scrape one of pods, matched by namespace and pod
// labels or by the pod IP in __address__ or instance, with a description of
// the matched targets; 0 when no target matches.
func scrapeInterval(ctx context.Context, api promv1.API, pods []corev1.Pod) (time.Duration, string, error) {
	res, err := api.Targets(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("prometheus targets: %w", err)
	}
	byName := map[string]bool{}
	byIP := map[string]bool{}
	for _, p := range pods {
		byName[p.Namespace+"/"+p.Name] = true
		if p.Status.PodIP != "" {
			byIP[p.Status.PodIP] = true
		}
		for _, ip := range p.Status.PodIPs {
			byIP[ip.IP] = true
		}
	}
	var longest time.Duration
	seen := map[string]bool{}
	for _, t := range res.Active {
		if !targetMatches(t, byName, byIP) {
			continue
		}
		v := t.DiscoveredLabels[scrapeIntervalLabel]
		if v == "" {
			continue
		}
		d, err := model.ParseDuration(v)
		if err != nil || d <= 0 {
			continue
		}
		longest = max(longest, time.Duration(d))
		seen[fmt.Sprintf("%s every %s", t.ScrapePool, v)] = true
	}
	var where []string
	for s := range seen {
		where = append(where, s)
	}
	sort.Strings(where)
	return longest, strings.Join(where, ", "), nil
}

func targetMatches(t promv1.ActiveTarget, byName, byIP map[string]bool) bool {
	for _, pair := range podLabelPairs {
		ns, pod := string(t.Labels[model.LabelName(pair[0])]), string(t.Labels[model.LabelName(pair[1])])
		if ns != "" && pod != "" && byName[ns+"/"+pod] {
			return true
		}
	}
	if ns, pod := t.DiscoveredLabels["__meta_kubernetes_namespace"], t.DiscoveredLabels["__meta_kubernetes_pod_name"]; ns != "" && pod != "" && byName[ns+"/"+pod] {
		return true
	}
	for _, addr := range []string{t.DiscoveredLabels[model.AddressLabel], string(t.Labels[model.InstanceLabel])} {
		if addr == "" {
			continue
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		if byIP[host] {
			return true
		}
	}
	return false
}

// promField is one PromQL expression of a drill and its field path.
type promField struct {
	path string
	expr string
}

// promFields are the PromQL expressions the drill runs against Prometheus:
// the guard's rules and statistical test (when the guard runs) and the
// PromQL consistency checks.
func promFields(d *drills.Drill, guard bool) []promField {
	var out []promField
	if g := d.Spec.Guard; guard && g != nil {
		for i, r := range g.Rules {
			out = append(out, promField{fmt.Sprintf("spec.guard.rules[%d].expr", i), r.Expr})
		}
		if s := g.Statistical; s != nil {
			out = append(out,
				promField{"spec.guard.statistical.errorsExpr", s.ErrorsExpr},
				promField{"spec.guard.statistical.totalExpr", s.TotalExpr})
		}
	}
	for i, c := range d.Spec.SLO.Consistency {
		if c.PromQL != nil {
			out = append(out, promField{fmt.Sprintf("spec.slo.consistency[%d].promql.expr", i), c.PromQL.Expr})
		}
	}
	return out
}

// shortRanges returns the range selectors ([5s]) and subquery ranges
// ([1m:]) of expr shorter than least, as written. An expression that does
// not parse has none (validation reports it).
func shortRanges(expr string, least time.Duration) []string {
	e, err := promParser.ParseExpr(expr)
	if err != nil {
		return nil
	}
	var short []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		var r time.Duration
		switch n := n.(type) {
		case *parser.MatrixSelector:
			r = n.Range
		case *parser.SubqueryExpr:
			r = n.Range
		default:
			return nil
		}
		if r > 0 && r < least {
			short = append(short, "["+model.Duration(r).String()+"]")
		}
		return nil
	})
	return short
}

// checkScrapeWindows refuses every PromQL window of the drill shorter than
// MinScrapesPerWindow scrape intervals, one error per field, located in
// the drill's file.
func checkScrapeWindows(d *drills.Drill, guard bool, interval time.Duration, where string) error {
	if interval <= 0 {
		return nil
	}
	least := MinScrapesPerWindow * interval
	var list drills.ErrorList
	for _, f := range promFields(d, guard) {
		short := shortRanges(f.expr, least)
		if len(short) == 0 {
			continue
		}
		msg := fmt.Sprintf("window %s is shorter than %d× the target's scrape interval (%s, from Prometheus: %s): use at least [%s]",
			strings.Join(short, ", "), MinScrapesPerWindow, model.Duration(interval), where, model.Duration(least))
		if !d.Written(f.path) {
			msg += " (this expression is a default: set the field with a longer window)"
		}
		list = append(list, d.FieldError(f.path, "%s", msg))
	}
	if len(list) == 0 {
		return nil
	}
	return list
}

// checkScrape reads the scrape interval of the target's pods (those the
// selector picks in ns) from Prometheus and refuses PromQL windows too
// short for it; when Prometheus cannot tell, it warns and goes on.
func (run *Run) checkScrape(ctx context.Context, ns string, sel *metav1.LabelSelector) error {
	if run.prom == nil {
		return nil
	}
	warn := func(msg string) {
		run.r.log.Warn(msg, "drill", run.drill.Metadata.Name)
		run.event(drills.EventNote, run.r.now(), "warning: "+msg, nil)
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return fmt.Errorf("target selector: %w", err)
	}
	pods, err := run.r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return fmt.Errorf("target pods: %w", err)
	}
	interval, where, err := scrapeInterval(ctx, run.prom, pods.Items)
	if err != nil {
		warn(fmt.Sprintf("cannot read the target's scrape interval, PromQL windows not checked: %v", err))
		return nil
	}
	if interval == 0 {
		warn(fmt.Sprintf("Prometheus scrapes none of the target's %d pods (no active target with their namespace/pod labels or IP), PromQL windows not checked", len(pods.Items)))
		return nil
	}
	run.event(drills.EventNote, run.r.now(), fmt.Sprintf("target scraped every %s (%s); PromQL windows must be at least %s",
		model.Duration(interval), where, model.Duration(MinScrapesPerWindow*interval)), nil)
	return checkScrapeWindows(run.drill, run.guard, interval, where)
}
