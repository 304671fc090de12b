// Package traffic is firedrill's built-in load generator: the independent,
// client-side source of truth for the SLO checks (error rate, p99 latency,
// throughput) while faults are injected.
//
// The load is open-loop and constant-rate: request n is scheduled at
// start + n/rate whether or not earlier requests have returned, and its
// latency is measured from that intended send time, so a stalled target shows
// up in every request scheduled during the stall instead of in one (no
// coordinated omission). In-flight requests are bounded; a request that finds
// the pool exhausted is counted as an "overload" error, never delayed.
//
// Requests go round-robin to the ready endpoints a Targets yields: a static
// list (StaticTargets) or the ready endpoints of a Kubernetes Service as its
// EndpointSlices publish them (ServiceTargets). Request templates
// (drills.RequestTemplate) are chosen by weight with a seeded RNG, so a run is
// reproducible; their path and body may use {{.Seq}} and {{Rand N}} (or
// {{.Rand N}}).
//
// Stats keeps per-second buckets aligned to the run's start, each with counts
// by outcome and an HDR latency histogram (1µs..60s, 3 significant digits),
// plus a whole-run histogram. A request belongs to the second it was
// scheduled in; a second is settled once all its requests have finished.
// Snapshot and Last summarise a window; Samples converts settled seconds to
// drills.Sample for the drill timeline. Per endpoint address (pod IP) it also
// keeps bounded per-second counts of requests sent, succeeded, failed, timed
// out and failed on the connection, with first and last success and failure
// times (Endpoint, ByEndpoint): the evidence that proves a fault hit a pod.
package traffic
