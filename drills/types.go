package drills

// APIVersion is the drill API group and version this package reads.
const APIVersion = "firedrill.dev/v1alpha1"

// KindDrill is the kind of a drill document.
const KindDrill = "Drill"

// Drill is one chaos drill: a target guarded by the rollback engine, the
// faults to inject, the traffic to drive, and the SLOs and expectations that
// decide the verdict.
type Drill struct {
	// APIVersion must be firedrill.dev/v1alpha1.
	APIVersion string `json:"apiVersion" yaml:"apiVersion" jsonschema:"enum=firedrill.dev/v1alpha1"`
	// Kind must be Drill.
	Kind string `json:"kind" yaml:"kind" jsonschema:"enum=Drill"`
	// Metadata names the drill.
	Metadata Metadata `json:"metadata" yaml:"metadata"`
	// Spec is what the drill does.
	Spec Spec `json:"spec" yaml:"spec"`

	// source is where the drill was loaded from (file name), for messages.
	source string
	// index maps field paths to lines of the source document.
	index *lineIndex
}

// Source returns the file the drill was loaded from, or "" if it was built
// in code.
func (d *Drill) Source() string { return d.source }

// Metadata identifies a drill.
type Metadata struct {
	// Name is the drill's unique name (a DNS-1123 label).
	Name string `json:"name" yaml:"name" jsonschema:"minLength=1,maxLength=63,pattern=^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"`
	// Description says in a sentence what the drill proves.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Labels are free-form key/value pairs copied into reports.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// Spec is the body of a drill.
type Spec struct {
	// Target is the workload under test.
	Target Target `json:"target" yaml:"target"`
	// Prometheus is where rules, SLO queries and PromQL checks are evaluated.
	Prometheus *Prometheus `json:"prometheus,omitempty" yaml:"prometheus,omitempty"`
	// Traffic is the built-in open-loop load driven at the target's Service.
	Traffic *Traffic `json:"traffic,omitempty" yaml:"traffic,omitempty"`
	// Guard is the rollback engine's policy for the target.
	Guard *Guard `json:"guard,omitempty" yaml:"guard,omitempty"`
	// Faults are injected in order during the inject phase.
	Faults []Fault `json:"faults" yaml:"faults" jsonschema:"minItems=1"`
	// SLO are the bounds that must hold before the fault and again after it.
	SLO SLO `json:"slo,omitempty" yaml:"slo,omitempty"`
	// Expect are assertions on how the rollback went.
	Expect Expect `json:"expect,omitempty" yaml:"expect,omitempty"`
	// Schedule is a cron expression (five fields, or @every/@weekly...) for
	// `firedrill schedule`; empty means run only on demand.
	Schedule string `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	// ConcurrencyPolicy says what the scheduler does when a run is due while
	// the previous one still runs: Forbid (skip), Allow, or Replace.
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty" yaml:"concurrencyPolicy,omitempty" jsonschema:"enum=Forbid,enum=Allow,enum=Replace"`
	// HistoryLimit is how many past runs the scheduler and the published site
	// keep (default 10).
	HistoryLimit *int `json:"historyLimit,omitempty" yaml:"historyLimit,omitempty" jsonschema:"minimum=1"`
	// Timeouts bound each phase of a run.
	Timeouts Timeouts `json:"timeouts,omitempty" yaml:"timeouts,omitempty"`
}

// ConcurrencyPolicy is what the scheduler does with overlapping runs.
type ConcurrencyPolicy string

// Concurrency policies, as in Kubernetes CronJobs and Chaos Mesh Schedules.
const (
	ConcurrencyForbid  ConcurrencyPolicy = "Forbid"
	ConcurrencyAllow   ConcurrencyPolicy = "Allow"
	ConcurrencyReplace ConcurrencyPolicy = "Replace"
)

// TargetKind is the kind of workload a drill targets.
type TargetKind string

// Target kinds.
const (
	TargetDeployment TargetKind = "Deployment"
	TargetRollout    TargetKind = "Rollout"
)

// Target is the workload under test and the Service that fronts it.
type Target struct {
	// Kind is Deployment (default) or Rollout (Argo Rollouts).
	Kind TargetKind `json:"kind,omitempty" yaml:"kind,omitempty" jsonschema:"enum=Deployment,enum=Rollout"`
	// Namespace of the workload.
	Namespace string `json:"namespace" yaml:"namespace" jsonschema:"minLength=1"`
	// Name of the workload.
	Name string `json:"name" yaml:"name" jsonschema:"minLength=1"`
	// Service is the Service in the same namespace that fronts the workload;
	// traffic goes to its ready endpoints.
	Service string `json:"service,omitempty" yaml:"service,omitempty"`
	// Container is the container the faults and the engine act on (default:
	// the first one).
	Container string `json:"container,omitempty" yaml:"container,omitempty"`
	// Port is the container port that traffic and HTTP probes use (default:
	// the Service's first port).
	Port int `json:"port,omitempty" yaml:"port,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// Metrics says how the workload reports its requests (counter, status
	// label, latency histogram); what is left out preflight detects from
	// the Prometheus series of the target's own pods.
	Metrics *TargetMetrics `json:"metrics,omitempty" yaml:"metrics,omitempty"`
}

// Prometheus locates the Prometheus server.
type Prometheus struct {
	// URL of the Prometheus HTTP API, e.g. http://127.0.0.1:9090.
	URL string `json:"url" yaml:"url" jsonschema:"minLength=1"`
}

// Traffic is an open-loop constant-rate load: requests are sent on a fixed
// schedule whether or not earlier ones have returned, so slow responses are
// counted instead of hidden (no coordinated omission).
type Traffic struct {
	// Rate is requests per second (default 50).
	Rate float64 `json:"rate,omitempty" yaml:"rate,omitempty" jsonschema:"exclusiveMinimum=0"`
	// Duration caps how long traffic runs; default: the whole drill.
	Duration *Duration `json:"duration,omitempty" yaml:"duration,omitempty"`
	// Timeout is each request's timeout (default 2s); a timed-out request
	// counts as an error.
	Timeout *Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// Requests are the request templates, chosen by weight.
	Requests []RequestTemplate `json:"requests" yaml:"requests" jsonschema:"minItems=1"`
}

// RequestTemplate is one kind of request the traffic generator sends.
type RequestTemplate struct {
	// Method is the HTTP method (default GET).
	Method string `json:"method,omitempty" yaml:"method,omitempty" jsonschema:"enum=GET,enum=POST,enum=PUT,enum=PATCH,enum=DELETE,enum=HEAD"`
	// Path is the request path, starting with "/". It may use the
	// placeholders {{.Seq}} (request number) and {{.Rand N}} (0..N-1).
	Path string `json:"path" yaml:"path" jsonschema:"minLength=1"`
	// Body is the request body (same placeholders as Path).
	Body string `json:"body,omitempty" yaml:"body,omitempty"`
	// Headers are extra request headers.
	Headers map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`
	// Weight is the relative share of this template (default 1).
	Weight int `json:"weight,omitempty" yaml:"weight,omitempty" jsonschema:"minimum=0"`
}

// Timeouts bound each phase of a drill.
type Timeouts struct {
	// Preflight (default 1m).
	Preflight *Duration `json:"preflight,omitempty" yaml:"preflight,omitempty"`
	// Baseline (default 1m); also how long the SLOs are sampled before faults.
	Baseline *Duration `json:"baseline,omitempty" yaml:"baseline,omitempty"`
	// Inject (default 2m).
	Inject *Duration `json:"inject,omitempty" yaml:"inject,omitempty"`
	// Observe (default 5m): how long the drill waits for detection and
	// recovery after the fault; the seed's 5-minute recovery budget.
	Observe *Duration `json:"observe,omitempty" yaml:"observe,omitempty"`
	// Verify (default 2m).
	Verify *Duration `json:"verify,omitempty" yaml:"verify,omitempty"`
	// Teardown (default 2m).
	Teardown *Duration `json:"teardown,omitempty" yaml:"teardown,omitempty"`
	// Total bounds the whole run (default 15m).
	Total *Duration `json:"total,omitempty" yaml:"total,omitempty"`
}
