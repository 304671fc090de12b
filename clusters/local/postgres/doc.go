// Package postgres runs a private PostgreSQL instance for firedrill's demo
// ledger, from the distribution's binaries (Debian's
// /usr/lib/postgresql/<major>/bin, the newest major found), next to but
// never in the way of a system PostgreSQL.
//
// # What runs
//
// One postmaster, as the postgres system user (PostgreSQL refuses to run as
// root; the process gets the user's credentials and the data folder is
// chowned to it), on a non-default port (DefaultPort, 55432), listening on
// 127.0.0.1 always plus any addresses given with WithListenAddresses,
// typically the local cluster's bridge gateway (DefaultPodAddress,
// 10.244.0.1) so that pods reach it. Authentication is scram-sha-256 with
// generated passwords kept in 0600 files of the work folder; pg_hba.conf
// admits loopback and the pod CIDR only. Start creates the role and the
// database "ledger" (owner ledger, not a superuser).
//
// # Work folder
//
// By default $FIREDRILL_HOME/postgres (FIREDRILL_HOME defaults to
// /var/lib/firedrill). It holds data/ (PGDATA, owned by postgres, 0700),
// run/ (the Unix socket), password (the ledger role's),
// superuser-password (the postgres role's), postgres.log and postgres.pid
// (PID and start time, so a recycled PID is never taken for ours). Every
// folder above it must be traversable by the postgres user.
//
// # Lifecycle
//
// Start is idempotent: a running instance is reused (also one found only
// through PostgreSQL's own postmaster.pid), stale PID files are removed, and
// the data folder is initialised only once. Start waits for readiness with
// pg_isready and a pgx ping, bounded by a timeout. Stop signals the PID:
// SIGTERM (smart shutdown), after 2 s SIGINT (fast shutdown, which
// disconnects the clients a smart shutdown would wait for, such as pods),
// then SIGKILL of the whole process group when the timeout runs out, so no
// backend is left behind.
// Delete stops the instance and removes the work folder.
package postgres
