// Command payment is firedrill's demo workload: a small payment/ledger HTTP
// service on PostgreSQL that drills break and the rollback engine must
// restore.
//
// # Releases
//
// One binary serves every image tag; the tag's environment selects the
// behaviour (PAYMENT_BEHAVIOUR):
//
//	payment:v1          good     healthy
//	payment:v2-buggy    buggy    PAYMENT_FAULT_RATE (default 0.05) of ledger requests answer 500
//	payment:v2-flaky    buggy    the same at PAYMENT_FAULT_RATE 0.03 (the stack's tag): a 3 % release
//	payment:v2-flapping buggy    PAYMENT_FAULT_RATE 0.015 with PAYMENT_FAULT_PERIOD 40s: exactly 1.5 % of
//	                             requests fail in the first 20 s of every 40 s, none in the rest
//	payment:v2-slow     slow     ledger requests wait PAYMENT_SLOW_DELAY (default 1500ms), so p99 > 1 s
//	payment:v2-crash    crash    never ready; exit(1) after PAYMENT_CRASH_AFTER (default 3s) → CrashLoopBackOff
//	payment:v2-corrupt  corrupt  PAYMENT_FAULT_RATE (default 0.1) of transfers debit without crediting
//
// A LEDGER_MODE other than "normal" (the bad-config drill pushes "broken"
// into the payment-config ConfigMap) makes every ledger request answer 503
// "bad config" while /healthz and /readyz stay up, so the pods stay Ready
// and the bad push shows up as errors.
//
// # Configuration
//
// From the environment only, never baked into an image: PAYMENT_DSN
// (required; from the payment-db Secret in Kubernetes), PAYMENT_LISTEN
// (default :8080), PAYMENT_VERSION, PAYMENT_BEHAVIOUR, PAYMENT_FAULT_RATE,
// PAYMENT_FAULT_PERIOD (default 0: the fault never flaps), PAYMENT_SLOW_DELAY, PAYMENT_CRASH_AFTER, LEDGER_MODE and PAYMENT_ACCOUNTS
// (default 100). See LoadConfig.
//
// # API
//
//	POST /transfers      {"from": 1, "to": 2, "amount": 5} → 201; one transaction:
//	                     debit, credit and a transfers row (404 unknown account,
//	                     409 insufficient funds, 400 bad body)
//	GET  /balances/{id}  {"id": 1, "balance": 1000}
//	GET  /accounts       {"count", "total", "expected_total", "consistent"}
//	GET  /healthz        liveness: the process is up
//	GET  /readyz         readiness: database ping within 1 s (never for crash)
//	GET  /metrics        Prometheus exposition
//
// # Schema
//
// Migrate runs on every start, in one transaction under a PostgreSQL
// advisory lock so that replicas starting together do not race: tables
// accounts, ledger_total (one row: the sum that must always hold),
// transfers and ledger_snapshots, and the PL/pgSQL functions
// ledger_snapshot() (replace the snapshot with a copy of accounts) and
// ledger_restore() (put accounts back to the snapshot; returns whether the
// invariant holds). An empty accounts table is seeded with
// PAYMENT_ACCOUNTS accounts, ids 0..N-1 (the drills' {{Rand N}} range),
// 1000 each. The ledger invariant is
//
//	SELECT (SELECT COALESCE(SUM(balance), 0) FROM accounts) = (SELECT total FROM ledger_total)
//
// # Metrics
//
// http_requests_total{code,method,path},
// http_request_duration_seconds{method,path} and http_requests_in_flight
// cover the ledger API only
// (not probes or /metrics); path is the route pattern ("/balances/{id}"),
// "unmatched" for unknown routes, and method is promhttp's lower-case form.
// ledger_balance_mismatch is |sum(balance) - total|, refreshed every
// second; payment_build_info{version,behaviour} is 1; the Go and process
// collectors are included.
//
// On SIGTERM the service turns unready, drains in-flight requests (up to
// 20 s) and closes its database pool.
package main
