package drills

// FaultType is the kind of fault a drill injects.
type FaultType string

// Fault types. ChaosMesh is any Chaos Mesh kind given by name with a raw
// spec; the others are typed.
const (
	FaultPodKill          FaultType = "pod-kill"
	FaultPodFailure       FaultType = "pod-failure"
	FaultContainerKill    FaultType = "container-kill"
	FaultNetworkPartition FaultType = "network-partition"
	FaultNetworkLoss      FaultType = "network-loss"
	FaultNetworkDelay     FaultType = "network-delay"
	FaultBandwidth        FaultType = "bandwidth"
	FaultBadImage         FaultType = "bad-image"
	FaultBadConfig        FaultType = "bad-config"
	FaultDataCorruption   FaultType = "data-corruption"
	FaultChaosMesh        FaultType = "chaos-mesh"
)

// FaultTypes lists every fault type in a stable order.
var FaultTypes = []FaultType{
	FaultPodKill, FaultPodFailure, FaultContainerKill, FaultNetworkPartition,
	FaultNetworkLoss, FaultNetworkDelay, FaultBandwidth, FaultBadImage,
	FaultBadConfig, FaultDataCorruption, FaultChaosMesh,
}

// Backend is what injects a fault.
type Backend string

// Backends. Auto picks Chaos Mesh when its CRDs and controller are present,
// else native.
const (
	BackendAuto      Backend = "auto"
	BackendChaosMesh Backend = "chaos-mesh"
	BackendNative    Backend = "native"
)

// SelectorMode is how many of the selected pods a fault hits, as Chaos Mesh
// defines it.
type SelectorMode string

// Selector modes.
const (
	ModeOne          SelectorMode = "one"
	ModeAll          SelectorMode = "all"
	ModeFixed        SelectorMode = "fixed"
	ModeFixedPercent SelectorMode = "fixed-percent"
)

// Fault is one fault to inject. Exactly the settings block that matches Type
// may be set (bad-image needs badImage, and so on).
type Fault struct {
	// Name of the fault within the drill (default: its type).
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Type of the fault.
	Type FaultType `json:"type" yaml:"type" jsonschema:"enum=pod-kill,enum=pod-failure,enum=container-kill,enum=network-partition,enum=network-loss,enum=network-delay,enum=bandwidth,enum=bad-image,enum=bad-config,enum=data-corruption,enum=chaos-mesh"`
	// Backend injects the fault: auto (default), chaos-mesh or native.
	Backend Backend `json:"backend,omitempty" yaml:"backend,omitempty" jsonschema:"enum=auto,enum=chaos-mesh,enum=native"`
	// Selector picks the pods the fault hits (default: the target's pods,
	// mode one).
	Selector *Selector `json:"selector,omitempty" yaml:"selector,omitempty"`
	// After delays the injection from the start of the inject phase.
	After *Duration `json:"after,omitempty" yaml:"after,omitempty"`
	// Duration is how long the fault stays in; 0 means until the engine or
	// teardown removes it (a bad push stays until rolled back).
	Duration *Duration `json:"duration,omitempty" yaml:"duration,omitempty"`
	// Seed makes the random choice of pods reproducible (default: derived
	// from the drill name).
	Seed *int64 `json:"seed,omitempty" yaml:"seed,omitempty"`

	// PodKill settings (pod-kill).
	PodKill *PodKillSettings `json:"podKill,omitempty" yaml:"podKill,omitempty"`
	// Network settings (network-partition, network-loss, network-delay,
	// bandwidth).
	Network *NetworkSettings `json:"network,omitempty" yaml:"network,omitempty"`
	// BadImage settings (bad-image).
	BadImage *BadImageSettings `json:"badImage,omitempty" yaml:"badImage,omitempty"`
	// BadConfig settings (bad-config).
	BadConfig *BadConfigSettings `json:"badConfig,omitempty" yaml:"badConfig,omitempty"`
	// DataCorruption settings (data-corruption).
	DataCorruption *DataCorruptionSettings `json:"dataCorruption,omitempty" yaml:"dataCorruption,omitempty"`
	// ChaosMesh settings (chaos-mesh).
	ChaosMesh *ChaosMeshSettings `json:"chaosMesh,omitempty" yaml:"chaosMesh,omitempty"`
}

// Selector picks target pods, as Chaos Mesh does.
type Selector struct {
	// Namespace of the pods (default: the target's namespace).
	Namespace string `json:"namespace,omitempty" yaml:"namespace,omitempty"`
	// Labels the pods must carry (default: the target's pod labels).
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	// Mode is one (default), all, fixed or fixed-percent.
	Mode SelectorMode `json:"mode,omitempty" yaml:"mode,omitempty" jsonschema:"enum=one,enum=all,enum=fixed,enum=fixed-percent"`
	// Value is the count for fixed and the percentage for fixed-percent.
	Value int `json:"value,omitempty" yaml:"value,omitempty" jsonschema:"minimum=0"`
}

// PodKillSettings configure pod-kill.
type PodKillSettings struct {
	// GracePeriodSeconds for the deletion (default: the pod's own).
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty" yaml:"gracePeriodSeconds,omitempty" jsonschema:"minimum=0"`
}

// Direction is which traffic a network fault affects.
type Direction string

// Directions, as Chaos Mesh names them.
const (
	DirectionTo   Direction = "to"
	DirectionFrom Direction = "from"
	DirectionBoth Direction = "both"
)

// NetworkSettings configure the network faults.
type NetworkSettings struct {
	// Direction is to (default), from or both.
	Direction Direction `json:"direction,omitempty" yaml:"direction,omitempty" jsonschema:"enum=to,enum=from,enum=both"`
	// LossPercent is the share of packets dropped (network-loss).
	LossPercent float64 `json:"lossPercent,omitempty" yaml:"lossPercent,omitempty" jsonschema:"minimum=0,maximum=100"`
	// Latency added to packets (network-delay).
	Latency *Duration `json:"latency,omitempty" yaml:"latency,omitempty"`
	// Jitter of the added latency (network-delay).
	Jitter *Duration `json:"jitter,omitempty" yaml:"jitter,omitempty"`
	// Rate is the bandwidth limit, e.g. 1mbps (bandwidth).
	Rate string `json:"rate,omitempty" yaml:"rate,omitempty"`
	// Limit is the queue size in bytes (bandwidth, default 20000).
	Limit uint32 `json:"limit,omitempty" yaml:"limit,omitempty"`
	// Buffer is the bucket size in bytes (bandwidth, default 10000).
	Buffer uint32 `json:"buffer,omitempty" yaml:"buffer,omitempty"`
}

// BadImageSettings configure pushing a bad image.
type BadImageSettings struct {
	// Image is the bad image reference to roll out.
	Image string `json:"image" yaml:"image" jsonschema:"minLength=1"`
	// Container whose image is changed (default: the target's container).
	Container string `json:"container,omitempty" yaml:"container,omitempty"`
}

// BadConfigSettings configure pushing a bad configuration. Either a
// ConfigMap key or container environment variables are changed; the
// workload is rolled so that the change takes effect.
type BadConfigSettings struct {
	// ConfigMap to change (in the target's namespace).
	ConfigMap string `json:"configMap,omitempty" yaml:"configMap,omitempty"`
	// Data are the ConfigMap keys and their bad values.
	Data map[string]string `json:"data,omitempty" yaml:"data,omitempty"`
	// Env are container environment variables and their bad values.
	Env map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
}

// DataCorruptionSettings configure a SQL fault against the workload's
// database.
type DataCorruptionSettings struct {
	// DSN is the PostgreSQL URL; ${NAME} references environment variables.
	DSN string `json:"dsn" yaml:"dsn" jsonschema:"minLength=1"`
	// SQL corrupts the data.
	SQL string `json:"sql" yaml:"sql" jsonschema:"minLength=1"`
	// UndoSQL reverts the corruption at teardown.
	UndoSQL string `json:"undoSQL,omitempty" yaml:"undoSQL,omitempty"`
	// UndoIf is a query returning one boolean: true while the corruption
	// is still there. With it, undoSQL runs at teardown only when it
	// returns true, so a corruption the engine already repaired (say by
	// restoring a snapshot) is not undone twice. Without it undoSQL always
	// runs.
	UndoIf string `json:"undoIf,omitempty" yaml:"undoIf,omitempty"`
}

// ChaosMeshSettings pass any Chaos Mesh kind through by name.
type ChaosMeshSettings struct {
	// Kind is the Chaos Mesh kind, e.g. StressChaos or IOChaos.
	Kind string `json:"kind" yaml:"kind" jsonschema:"minLength=1"`
	// Spec is the kind's spec; the selector and duration above are merged
	// in. It is validated by the API server against the real CRD schema.
	Spec map[string]any `json:"spec,omitempty" yaml:"spec,omitempty"`
}

// ChaosMeshKinds are the Chaos Mesh kinds a chaos-mesh fault may name.
var ChaosMeshKinds = []string{
	"PodChaos", "NetworkChaos", "StressChaos", "IOChaos", "TimeChaos",
	"KernelChaos", "DNSChaos", "HTTPChaos", "JVMChaos", "AWSChaos",
	"GCPChaos", "AzureChaos", "BlockChaos", "PhysicalMachineChaos",
}
