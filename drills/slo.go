package drills

// SLO are the bounds a drill checks before the fault (baseline) and after it
// (verify). The seed's validation test: error rate < 1%, p99 < 500 ms, data
// consistent, recovered within 5 minutes.
type SLO struct {
	// ErrorRate is the highest acceptable share of failed requests, as a
	// ratio (0.01 = 1%).
	ErrorRate *float64 `json:"errorRate,omitempty" yaml:"errorRate,omitempty" jsonschema:"minimum=0,maximum=1"`
	// P99 is the highest acceptable 99th-percentile latency.
	P99 *Duration `json:"p99,omitempty" yaml:"p99,omitempty"`
	// Window is the sliding window the error rate and p99 are computed over
	// (default 10s).
	Window *Duration `json:"window,omitempty" yaml:"window,omitempty"`
	// Stability is how long the bounds must hold again before the drill
	// counts the target as recovered (default 15s).
	Stability *Duration `json:"stability,omitempty" yaml:"stability,omitempty"`
	// Consistency are data-consistency checks run in verify.
	Consistency []ConsistencyCheck `json:"consistency,omitempty" yaml:"consistency,omitempty"`
}

// ConsistencyCheck is one data-consistency check: exactly one of SQL,
// PromQL or HTTP is set.
type ConsistencyCheck struct {
	// Name of the check.
	Name string `json:"name" yaml:"name" jsonschema:"minLength=1"`
	// SQL runs a query whose single value must equal Expect.
	SQL *SQLCheck `json:"sql,omitempty" yaml:"sql,omitempty"`
	// PromQL compares a query's value with a threshold.
	PromQL *PromQLCheck `json:"promql,omitempty" yaml:"promql,omitempty"`
	// HTTP probes an endpoint of the target.
	HTTP *HTTPCheck `json:"http,omitempty" yaml:"http,omitempty"`
}

// SQLCheck runs a query against PostgreSQL.
type SQLCheck struct {
	// DSN is the PostgreSQL URL; ${NAME} references environment variables.
	DSN string `json:"dsn" yaml:"dsn" jsonschema:"minLength=1"`
	// Query must return one row with one column.
	Query string `json:"query" yaml:"query" jsonschema:"minLength=1"`
	// Expect is the value the query must return, as text (e.g. "true",
	// "0").
	Expect string `json:"expect" yaml:"expect"`
}

// PromQLCheck compares a PromQL query's value with a threshold.
type PromQLCheck struct {
	// Expr is the PromQL expression.
	Expr string `json:"expr" yaml:"expr" jsonschema:"minLength=1"`
	// Op is the comparison that must hold (default "==").
	Op Op `json:"op,omitempty" yaml:"op,omitempty" jsonschema:"enum=>,enum=>=,enum=<,enum=<=,enum===,enum=!="`
	// Threshold the value is compared with.
	Threshold float64 `json:"threshold" yaml:"threshold"`
}

// HTTPCheck probes the target over HTTP.
type HTTPCheck struct {
	// Method (default GET).
	Method string `json:"method,omitempty" yaml:"method,omitempty" jsonschema:"enum=GET,enum=POST,enum=HEAD"`
	// Path on the target's Service, starting with "/".
	Path string `json:"path" yaml:"path" jsonschema:"minLength=1"`
	// ExpectStatus is the expected status code (default 200).
	ExpectStatus int `json:"expectStatus,omitempty" yaml:"expectStatus,omitempty" jsonschema:"minimum=100,maximum=599"`
	// ExpectBody is a substring the body must contain.
	ExpectBody string `json:"expectBody,omitempty" yaml:"expectBody,omitempty"`
}

// Expect are assertions on the rollback; each becomes a verdict.
type Expect struct {
	// Rollback says whether the engine must roll back (true) or must not
	// (false); unset means either is fine.
	Rollback *bool `json:"rollback,omitempty" yaml:"rollback,omitempty"`
	// Strategy is the strategy that must have restored the target.
	Strategy StrategyName `json:"strategy,omitempty" yaml:"strategy,omitempty" jsonschema:"enum=revert,enum=traffic-switch,enum=shrink,enum=restore,enum=human"`
	// MTTD is the budget for time to detect (fault injected → first
	// detection).
	MTTD *Duration `json:"mttd,omitempty" yaml:"mttd,omitempty"`
	// MTTR is the budget for time to recover (fault injected → SLOs hold
	// again and stay held).
	MTTR *Duration `json:"mttr,omitempty" yaml:"mttr,omitempty"`
}
