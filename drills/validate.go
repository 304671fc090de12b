package drills

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/robfig/cron/v3"
)

var (
	dnsLabelRe  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	bandwidthRe = regexp.MustCompile(`^[0-9]+(bps|kbps|mbps|gbps|tbps)$`)
	surgeRE     = regexp.MustCompile(`^[1-9][0-9]*%?$`)
	promParser  = parser.NewParser(parser.Options{})
	cronParser  = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

// protectedNamespaces are never a drill's target: faults there could take
// the cluster itself down.
var protectedNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

// Validate checks the drill and returns an ErrorList of every problem, each
// with the field path and, for loaded drills, the file and line. Call it
// after Default.
func (d *Drill) Validate() error {
	e := &errs{}
	if d.APIVersion == "" {
		e.required("apiVersion")
	} else if d.APIVersion != APIVersion {
		e.add("apiVersion", "unsupported apiVersion %q: want %s", d.APIVersion, APIVersion)
	}
	if d.Kind == "" {
		e.required("kind")
	} else if d.Kind != KindDrill {
		e.add("kind", "unsupported kind %q: want %s", d.Kind, KindDrill)
	}
	switch {
	case d.Metadata.Name == "":
		e.required("metadata.name")
	case len(d.Metadata.Name) > 63 || !dnsLabelRe.MatchString(d.Metadata.Name):
		e.add("metadata.name", "invalid name %q: want lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", d.Metadata.Name)
	}
	s := &d.Spec
	validateTarget(e, &s.Target)
	if s.Prometheus != nil {
		validateURL(e, "spec.prometheus.url", s.Prometheus.URL, true)
	}
	if s.Traffic != nil {
		validateTraffic(e, s.Traffic)
	}
	if s.Guard != nil {
		validateGuard(e, s.Guard)
		validateGuardScope(e, TargetScope(s.Target), s.Guard)
		if s.Target.Kind == TargetRollout {
			validateRolloutGuard(e, s.Guard)
		}
	}
	if len(s.Faults) == 0 {
		e.add("spec.faults", "a drill needs at least one fault")
	}
	names := map[string]bool{}
	for i := range s.Faults {
		p := fmt.Sprintf("spec.faults[%d]", i)
		validateFault(e, p, &s.Faults[i])
		if n := s.Faults[i].Name; n != "" {
			if names[n] {
				e.add(p+".name", "duplicate fault name %q", n)
			}
			names[n] = true
		}
	}
	validateSLO(e, &s.SLO, TargetScope(s.Target))
	if s.Traffic == nil && len(s.SLO.Consistency) == 0 {
		// Without traffic there is no error rate or p99, and without a
		// consistency check (SQL, PromQL or HTTP) there is nothing else:
		// such a drill would pass whatever the fault did.
		e.add("spec", "nothing to judge: give spec.traffic, spec.slo.consistency or a PromQL SLO (spec.slo.consistency[].promql)")
	}
	validateExpect(e, d)
	if s.Schedule != "" {
		if _, err := cronParser.Parse(s.Schedule); err != nil {
			e.add("spec.schedule", "invalid cron schedule %q: %v (want five fields like \"0 3 * * 1\", or @every 30m, @weekly)", s.Schedule, err)
		}
	}
	switch s.ConcurrencyPolicy {
	case "", ConcurrencyForbid, ConcurrencyAllow, ConcurrencyReplace:
	default:
		e.enum("spec.concurrencyPolicy", s.ConcurrencyPolicy, "Forbid", "Allow", "Replace")
	}
	if s.HistoryLimit != nil && *s.HistoryLimit < 1 {
		e.add("spec.historyLimit", "must be at least 1, got %d", *s.HistoryLimit)
	}
	t := &s.Timeouts
	for name, v := range map[string]*Duration{"preflight": t.Preflight, "baseline": t.Baseline, "inject": t.Inject, "observe": t.Observe, "verify": t.Verify, "teardown": t.Teardown, "total": t.Total} {
		positive(e, "spec.timeouts."+name, v)
	}
	if len(e.list) == 0 {
		return nil
	}
	for _, fe := range e.list {
		fe.File = d.source
		fe.Line = d.index.line(fe.Path)
	}
	sortErrors(e.list)
	return e.list
}

func validateTarget(e *errs, t *Target) {
	switch t.Kind {
	case "", TargetDeployment, TargetRollout:
	default:
		e.enum("spec.target.kind", t.Kind, "Deployment", "Rollout")
	}
	nonEmpty(e, "spec.target.namespace", t.Namespace)
	if protectedNamespaces[t.Namespace] {
		e.add("spec.target.namespace", "namespace %q is protected: firedrill never injects faults into the cluster's own namespaces", t.Namespace)
	}
	nonEmpty(e, "spec.target.name", t.Name)
	if t.Metrics != nil {
		validateTargetMetrics(e, t.Metrics)
	}
	if t.Port < 0 || t.Port > 65535 {
		e.add("spec.target.port", "invalid port %d: want 1-65535", t.Port)
	}
}

func validateTraffic(e *errs, t *Traffic) {
	if t.Rate <= 0 {
		e.add("spec.traffic.rate", "must be more than 0 requests per second, got %v", t.Rate)
	}
	positive(e, "spec.traffic.duration", t.Duration)
	positive(e, "spec.traffic.timeout", t.Timeout)
	if len(t.Requests) == 0 {
		e.add("spec.traffic.requests", "at least one request template is required")
	}
	total := 0
	for i, r := range t.Requests {
		p := fmt.Sprintf("spec.traffic.requests[%d]", i)
		validatePath(e, p+".path", r.Path)
		validateTemplate(e, p+".path", r.Path)
		validateTemplate(e, p+".body", r.Body)
		switch r.Method {
		case "", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
		default:
			e.enum(p+".method", r.Method, "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
		}
		if r.Weight < 0 {
			e.add(p+".weight", "must not be negative, got %d", r.Weight)
		}
		total += r.Weight
	}
	if len(t.Requests) > 0 && total == 0 {
		e.add("spec.traffic.requests", "at least one request template needs a weight above 0")
	}
}

func validateGuard(e *errs, g *Guard) {
	positive(e, "spec.guard.interval", g.Interval)
	positive(e, "spec.guard.staleAfter", g.StaleAfter)
	if g.MinRequestRate != nil && *g.MinRequestRate < 0 {
		e.add("spec.guard.minRequestRate", "must not be negative, got %v", *g.MinRequestRate)
	}
	if g.MaxHold != nil && (*g.MaxHold < 0 || *g.MaxHold > 1) {
		e.add("spec.guard.maxHold", "must be a fraction between 0 and 1 (0.2 is 20%%), got %v", *g.MaxHold)
	}
	names := map[string]bool{}
	for i, r := range g.Rules {
		p := fmt.Sprintf("spec.guard.rules[%d]", i)
		if r.Name == "" {
			e.required(p + ".name")
		} else if names[r.Name] {
			e.add(p+".name", "duplicate rule name %q", r.Name)
		}
		names[r.Name] = true
		validateOp(e, p+".op", r.Op)
		validateSeverity(e, p+".severity", r.Severity)
	}
	if k := g.Kubernetes; k != nil {
		if k.MinReadyRatio != nil && (*k.MinReadyRatio < 0 || *k.MinReadyRatio > 1) {
			e.add("spec.guard.kubernetes.minReadyRatio", "must be between 0 and 1, got %v", *k.MinReadyRatio)
		}
		validateSeverity(e, "spec.guard.kubernetes.severity", k.Severity)
	}
	if st := g.Statistical; st != nil {
		p := "spec.guard.statistical"
		switch st.Method {
		case "", MethodSPRT, MethodCUSUM:
		default:
			e.enum(p+".method", st.Method, "sprt", "cusum")
		}
		probability(e, p+".baselineErrorRate", st.BaselineErrorRate)
		probability(e, p+".detectErrorRate", st.DetectErrorRate)
		probability(e, p+".falseAlarmRate", st.FalseAlarmRate)
		probability(e, p+".missRate", st.MissRate)
		if st.BaselineErrorRate != nil && st.DetectErrorRate != nil && *st.DetectErrorRate <= *st.BaselineErrorRate {
			e.add(p+".detectErrorRate", "must be above baselineErrorRate (%v), got %v", *st.BaselineErrorRate, *st.DetectErrorRate)
		}
		if st.MinRequests < 0 {
			e.add(p+".minRequests", "must not be negative, got %d", st.MinRequests)
		}
		validateSeverity(e, p+".severity", st.Severity)
	}
	dec := g.Decision
	unit(e, "spec.guard.decision.rollbackAt", dec.RollbackAt)
	unit(e, "spec.guard.decision.partialAt", dec.PartialAt)
	if dec.RollbackAt != nil && dec.PartialAt != nil && *dec.PartialAt > *dec.RollbackAt {
		e.add("spec.guard.decision.partialAt", "must not be above rollbackAt (%v), got %v", *dec.RollbackAt, *dec.PartialAt)
	}
	if dec.PartialPercent < 0 || dec.PartialPercent > 100 {
		e.add("spec.guard.decision.partialPercent", "must be between 1 and 100, got %d", dec.PartialPercent)
	}
	seen := map[StrategyName]bool{}
	for i := range g.Strategies {
		p := fmt.Sprintf("spec.guard.strategies[%d]", i)
		s := &g.Strategies[i]
		if seen[s.Name] && s.Name != "" {
			e.add(p+".name", "strategy %q is listed twice", s.Name)
		}
		seen[s.Name] = true
		validateStrategy(e, p, s)
	}
	positive(e, "spec.guard.verifyWindow", g.VerifyWindow)
	if g.MaxAttempts < 0 {
		e.add("spec.guard.maxAttempts", "must be at least 1, got %d", g.MaxAttempts)
	}
}

// validateRolloutGuard refuses, for an Argo Rollouts target, what reads a
// Deployment's ReplicaSets (the engine refuses them too).
func validateRolloutGuard(e *errs, g *Guard) {
	const why = "reads a Deployment's ReplicaSets; a Rollout target is guarded by rules"
	if g.Kubernetes != nil {
		e.add("spec.guard.kubernetes", "the Kubernetes signals are not supported for a Rollout target: it %s", why)
	}
	if g.Statistical != nil {
		e.add("spec.guard.statistical", "the statistical test is not supported for a Rollout target: it %s", why)
	}
	for i, s := range g.Strategies {
		if s.Name != "" && !s.Name.ActsOnRollout() {
			e.add(fmt.Sprintf("spec.guard.strategies[%d].name", i), "strategy %s does not act on a Rollout target: use revert (abort and undo), restore or human", s.Name)
		}
	}
}

func validateStrategy(e *errs, p string, s *Strategy) {
	set := map[StrategyName]bool{
		StrategyRevert: s.Revert != nil, StrategyTrafficSwitch: s.TrafficSwitch != nil,
		StrategyShrink: s.Shrink != nil, StrategyRestore: s.Restore != nil, StrategyHuman: s.Human != nil,
	}
	blocks := map[StrategyName]string{
		StrategyRevert: "revert", StrategyTrafficSwitch: "trafficSwitch", StrategyShrink: "shrink",
		StrategyRestore: "restore", StrategyHuman: "human",
	}
	if _, ok := blocks[s.Name]; !ok {
		if s.Name == "" {
			e.required(p + ".name")
		} else {
			e.enum(p+".name", s.Name, "revert", "traffic-switch", "shrink", "restore", "human")
		}
		return
	}
	for name, isSet := range set {
		if isSet && name != s.Name {
			e.add(p+"."+blocks[name], "settings for %q do not belong to strategy %q", name, s.Name)
		}
	}
	switch s.Name {
	case StrategyRevert:
		if s.Revert != nil {
			if s.Revert.ToRevision < 0 {
				e.add(p+".revert.toRevision", "must not be negative, got %d", s.Revert.ToRevision)
			}
			positive(e, p+".revert.timeout", s.Revert.Timeout)
			if sg := s.Revert.Surge; sg != "" && !surgeRE.MatchString(sg) {
				e.add(p+".revert.surge", "must be a positive count such as \"3\" or a percentage such as \"100%%\", got %q", sg)
			}
		}
	case StrategyTrafficSwitch:
		if s.TrafficSwitch == nil || len(s.TrafficSwitch.StableSelector) == 0 {
			e.add(p+".trafficSwitch.stableSelector", "traffic-switch needs the stable track's Service selector")
		}
	case StrategyShrink:
		if s.Shrink != nil {
			if s.Shrink.Step < 0 {
				e.add(p+".shrink.step", "must be at least 1, got %d", s.Shrink.Step)
			}
			positive(e, p+".shrink.interval", s.Shrink.Interval)
			if l := s.Shrink.QuarantineLabel; l != "" && !strings.Contains(l, "=") {
				e.add(p+".shrink.quarantineLabel", "invalid label %q: want key=value", l)
			}
		}
	case StrategyRestore:
		r := s.Restore
		switch {
		case r == nil:
			e.add(p+".restore", "restore needs restoreSQL with a dsn, or a job")
		case r.Job == "" && r.RestoreSQL == "":
			e.add(p+".restore.restoreSQL", "restore needs restoreSQL with a dsn, or a job")
		case r.RestoreSQL != "" && r.DSN == "":
			e.required(p + ".restore.dsn")
		case r.Job != "" && r.RestoreSQL != "":
			e.add(p+".restore.job", "set either job or restoreSQL, not both")
		}
	case StrategyHuman:
		if s.Human != nil && s.Human.WebhookURL != "" {
			validateURL(e, p+".human.webhookURL", s.Human.WebhookURL, false)
		}
	}
}

func validateFault(e *errs, p string, f *Fault) {
	known := false
	for _, t := range FaultTypes {
		known = known || f.Type == t
	}
	if f.Type == "" {
		e.required(p + ".type")
	} else if !known {
		allowed := make([]string, len(FaultTypes))
		for i, t := range FaultTypes {
			allowed[i] = string(t)
		}
		e.enum(p+".type", f.Type, allowed...)
	}
	switch f.Backend {
	case "", BackendAuto, BackendChaosMesh, BackendNative:
	default:
		e.enum(p+".backend", f.Backend, "auto", "chaos-mesh", "native")
	}
	if sel := f.Selector; sel != nil {
		if protectedNamespaces[sel.Namespace] {
			e.add(p+".selector.namespace", "namespace %q is protected: firedrill never injects faults into the cluster's own namespaces", sel.Namespace)
		}
		switch sel.Mode {
		case "", ModeOne, ModeAll:
			if sel.Value != 0 {
				e.add(p+".selector.value", "mode %q takes no value (use mode fixed or fixed-percent)", sel.Mode)
			}
		case ModeFixed:
			if sel.Value < 1 {
				e.add(p+".selector.value", "mode fixed needs a pod count of at least 1, got %d", sel.Value)
			}
		case ModeFixedPercent:
			if sel.Value < 1 || sel.Value > 100 {
				e.add(p+".selector.value", "mode fixed-percent needs a percentage between 1 and 100, got %d", sel.Value)
			}
		default:
			e.enum(p+".selector.mode", sel.Mode, "one", "all", "fixed", "fixed-percent")
		}
	}
	positive(e, p+".duration", f.Duration)
	// Exactly the settings block of the fault's type may be set.
	blocks := []struct {
		name  string
		set   bool
		types []FaultType
	}{
		{"podKill", f.PodKill != nil, []FaultType{FaultPodKill}},
		{"network", f.Network != nil, []FaultType{FaultNetworkPartition, FaultNetworkLoss, FaultNetworkDelay, FaultBandwidth}},
		{"badImage", f.BadImage != nil, []FaultType{FaultBadImage}},
		{"badConfig", f.BadConfig != nil, []FaultType{FaultBadConfig}},
		{"dataCorruption", f.DataCorruption != nil, []FaultType{FaultDataCorruption}},
		{"chaosMesh", f.ChaosMesh != nil, []FaultType{FaultChaosMesh}},
	}
	for _, b := range blocks {
		belongs := false
		for _, t := range b.types {
			belongs = belongs || t == f.Type
		}
		if b.set && !belongs && known {
			e.add(p+"."+b.name, "settings %q do not apply to a %s fault", b.name, f.Type)
		}
	}
	switch f.Type {
	case FaultNetworkPartition, FaultNetworkLoss, FaultNetworkDelay, FaultBandwidth:
		validateNetwork(e, p, f)
	case FaultBadImage:
		if f.BadImage == nil || f.BadImage.Image == "" {
			e.add(p+".badImage.image", "a bad-image fault needs the image to push")
		}
	case FaultBadConfig:
		c := f.BadConfig
		switch {
		case c == nil || (len(c.Data) == 0 && len(c.Env) == 0):
			e.add(p+".badConfig", "a bad-config fault needs configMap with data, or env")
		case len(c.Data) > 0 && c.ConfigMap == "":
			e.required(p + ".badConfig.configMap")
		case c.ConfigMap != "" && len(c.Data) == 0:
			e.required(p + ".badConfig.data")
		}
	case FaultDataCorruption:
		if f.DataCorruption == nil {
			e.add(p+".dataCorruption", "a data-corruption fault needs dsn and sql")
		} else {
			nonEmpty(e, p+".dataCorruption.dsn", f.DataCorruption.DSN)
			nonEmpty(e, p+".dataCorruption.sql", f.DataCorruption.SQL)
			if f.DataCorruption.UndoIf != "" && f.DataCorruption.UndoSQL == "" {
				e.add(p+".dataCorruption.undoIf", "needs undoSQL: it decides whether undoSQL runs")
			}
		}
	case FaultChaosMesh:
		if f.ChaosMesh == nil || f.ChaosMesh.Kind == "" {
			e.add(p+".chaosMesh.kind", "a chaos-mesh fault needs the Chaos Mesh kind, one of %s", strings.Join(ChaosMeshKinds, ", "))
		} else if !contains(ChaosMeshKinds, f.ChaosMesh.Kind) {
			e.enum(p+".chaosMesh.kind", f.ChaosMesh.Kind, ChaosMeshKinds...)
		}
		if f.Backend == BackendNative {
			e.add(p+".backend", "a chaos-mesh fault runs only on the chaos-mesh backend")
		}
	}
}

func validateNetwork(e *errs, p string, f *Fault) {
	n := f.Network
	if n == nil {
		n = &NetworkSettings{}
	}
	switch n.Direction {
	case "", DirectionTo, DirectionFrom, DirectionBoth:
	default:
		e.enum(p+".network.direction", n.Direction, "to", "from", "both")
	}
	switch f.Type {
	case FaultNetworkLoss:
		if n.LossPercent <= 0 || n.LossPercent > 100 {
			e.add(p+".network.lossPercent", "a network-loss fault needs a loss percentage above 0 and at most 100, got %v", n.LossPercent)
		}
	case FaultNetworkDelay:
		if n.Latency == nil || n.Latency.Duration <= 0 {
			e.add(p+".network.latency", "a network-delay fault needs a latency above 0")
		}
	case FaultBandwidth:
		if !bandwidthRe.MatchString(n.Rate) {
			e.add(p+".network.rate", "a bandwidth fault needs a rate such as 1mbps (bps, kbps, mbps, gbps), got %q", n.Rate)
		}
	}
	if f.Type != FaultNetworkLoss && n.LossPercent != 0 {
		e.add(p+".network.lossPercent", "applies only to network-loss")
	}
	if f.Type != FaultNetworkDelay && (n.Latency != nil || n.Jitter != nil) {
		e.add(p+".network.latency", "applies only to network-delay")
	}
	if f.Type != FaultBandwidth && n.Rate != "" {
		e.add(p+".network.rate", "applies only to bandwidth")
	}
}

func validateSLO(e *errs, s *SLO, sc Scope) {
	if s.ErrorRate != nil && (*s.ErrorRate < 0 || *s.ErrorRate > 1) {
		e.add("spec.slo.errorRate", "must be a ratio between 0 and 1 (0.01 = 1%%), got %v", *s.ErrorRate)
	}
	positive(e, "spec.slo.p99", s.P99)
	positive(e, "spec.slo.window", s.Window)
	names := map[string]bool{}
	for i, c := range s.Consistency {
		p := fmt.Sprintf("spec.slo.consistency[%d]", i)
		if c.Name == "" {
			e.required(p + ".name")
		} else if names[c.Name] {
			e.add(p+".name", "duplicate check name %q", c.Name)
		}
		names[c.Name] = true
		n := 0
		if c.SQL != nil {
			n++
			nonEmpty(e, p+".sql.dsn", c.SQL.DSN)
			nonEmpty(e, p+".sql.query", c.SQL.Query)
		}
		if c.PromQL != nil {
			n++
			validateInstantPromQL(e, p+".promql.expr", expandOrKeep(e, sc, p+".promql.expr", c.PromQL.Expr))
			validateOp(e, p+".promql.op", c.PromQL.Op)
		}
		if c.HTTP != nil {
			n++
			validatePath(e, p+".http.path", c.HTTP.Path)
			if c.HTTP.ExpectStatus != 0 && (c.HTTP.ExpectStatus < 100 || c.HTTP.ExpectStatus > 599) {
				e.add(p+".http.expectStatus", "invalid HTTP status %d", c.HTTP.ExpectStatus)
			}
		}
		if n != 1 {
			e.add(p, "a consistency check needs exactly one of sql, promql or http, got %d", n)
		}
	}
}

func validateExpect(e *errs, d *Drill) {
	x := &d.Spec.Expect
	positive(e, "spec.expect.mttd", x.MTTD)
	positive(e, "spec.expect.mttr", x.MTTR)
	if x.Strategy != "" {
		switch x.Strategy {
		case StrategyRevert, StrategyTrafficSwitch, StrategyShrink, StrategyRestore, StrategyHuman:
		default:
			e.enum("spec.expect.strategy", x.Strategy, "revert", "traffic-switch", "shrink", "restore", "human")
			return
		}
		if g := d.Spec.Guard; g != nil && len(g.Strategies) > 0 {
			allowed := false
			for _, s := range g.Strategies {
				allowed = allowed || s.Name == x.Strategy
			}
			if !allowed {
				e.add("spec.expect.strategy", "strategy %q is not among spec.guard.strategies", x.Strategy)
			}
		}
	}
	if x.Rollback != nil && *x.Rollback && !d.GuardEnabled() {
		e.add("spec.expect.rollback", "expects a rollback but spec.guard.enabled is false")
	}
}

// validateInstantPromQL checks an expression that is compared with a
// threshold: it must give an instant vector or a scalar. A range vector
// (http_requests_total[1m]) or a string has no value to compare, so a rule
// on it would hold for ever.
func validateInstantPromQL(e *errs, path, expr string) {
	validatePromQLType(e, path, expr, true)
}

func validatePromQLType(e *errs, path, expr string, instant bool) {
	if strings.TrimSpace(expr) == "" {
		e.required(path)
		return
	}
	x, err := promParser.ParseExpr(expr)
	if err != nil {
		e.add(path, "invalid PromQL: %v", err)
		return
	}
	if !instant {
		return
	}
	instantType(e, path, x)
}

// validateInstantType checks the type of an expression that parses (a
// parse error is reported by whoever checks its syntax): a range vector or
// a string has no value to compare with a threshold.
func validateInstantType(e *errs, path, expr string) {
	x, err := promParser.ParseExpr(strings.ReplaceAll(expr, "{{.Revision}}", "rev"))
	if err != nil {
		return
	}
	instantType(e, path, x)
}

func instantType(e *errs, path string, x parser.Expr) {
	switch t := x.Type(); t {
	case parser.ValueTypeVector, parser.ValueTypeScalar:
	case parser.ValueTypeMatrix:
		e.add(path, "the expression gives a range vector (matrix), which has no value to compare with a threshold: wrap it in a function such as rate(...) or max_over_time(...)")
	default:
		e.add(path, "the expression gives a %s, want an instant vector or a scalar to compare with a threshold", t)
	}
}

// IsRatio reports whether a PromQL expression divides somewhere in its
// parse tree (a binary "/"), i.e. is a ratio that is meaningless at low
// traffic. A "/" inside a label matcher or a string (path=~"/api") is
// not a division. An expression that does not parse is not a ratio.
func IsRatio(expr string) bool {
	x, err := promParser.ParseExpr(expr)
	if err != nil {
		return false
	}
	ratio := false
	parser.Inspect(x, func(n parser.Node, _ []parser.Node) error {
		if b, ok := n.(*parser.BinaryExpr); ok && b.Op == parser.DIV {
			ratio = true
		}
		return nil
	})
	return ratio
}

func validateOp(e *errs, path string, op Op) {
	switch op {
	case "", OpGT, OpGE, OpLT, OpLE, OpEQ, OpNE:
	default:
		e.enum(path, op, ">", ">=", "<", "<=", "==", "!=")
	}
}

func validateSeverity(e *errs, path string, s Severity) {
	switch s {
	case "", SeverityWarning, SeverityCritical, SeverityEmergency:
	default:
		e.enum(path, s, "warning", "critical", "emergency")
	}
}

func validatePath(e *errs, path, v string) {
	if v == "" {
		e.required(path)
	} else if !strings.HasPrefix(v, "/") {
		e.add(path, "must start with \"/\", got %q", v)
	}
}

func validateTemplate(e *errs, path, v string) {
	if !strings.Contains(v, "{{") {
		return
	}
	if _, err := template.New("t").Funcs(template.FuncMap{"Rand": func(int) int { return 0 }}).Parse(v); err != nil {
		e.add(path, "invalid template: %v", err)
	}
}

func validateURL(e *errs, path, v string, required bool) {
	if v == "" {
		if required {
			e.required(path)
		}
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.add(path, "invalid URL %q: want http:// or https:// with a host", v)
	}
}

func nonEmpty(e *errs, path, v string) {
	if strings.TrimSpace(v) == "" {
		e.required(path)
	}
}

func positive(e *errs, path string, d *Duration) {
	if d != nil && d.Duration < 0 {
		e.add(path, "must not be negative, got %s", d.Duration)
	}
}

func probability(e *errs, path string, v *float64) {
	if v != nil && (*v <= 0 || *v >= 1) {
		e.add(path, "must be above 0 and below 1, got %v", *v)
	}
}

func unit(e *errs, path string, v *float64) {
	if v != nil && (*v < 0 || *v > 1) {
		e.add(path, "must be between 0 and 1, got %v", *v)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
