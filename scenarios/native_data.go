package scenarios

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/firedrill/firedrill/drills"
)

// redactDSN hides a URL DSN's password.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}

// dataCorruption runs SQL against the workload's database.
type dataCorruption struct {
	spec drills.Fault
	deps Deps
	// lookup reads the environment (tests replace it).
	lookup func(string) (string, bool)

	mu       sync.Mutex
	injected bool
	rows     int64
	// proof is the measured effect, once seen (it stays proven).
	proof string
}

func newDataCorruption(_ context.Context, spec drills.Fault, _ drills.Target, deps Deps) (Fault, error) {
	s := spec.DataCorruption
	if s == nil || s.DSN == "" || s.SQL == "" {
		return nil, fmt.Errorf("scenarios: data-corruption: dataCorruption.dsn and .sql are required")
	}
	return &dataCorruption{spec: spec, deps: deps, lookup: os.LookupEnv}, nil
}

func (f *dataCorruption) Describe() string {
	return fmt.Sprintf("data-corruption: run %q on %s", f.spec.DataCorruption.SQL, redactDSN(f.spec.DataCorruption.DSN))
}

// conn connects to the fault's database.
func (f *dataCorruption) conn(ctx context.Context) (*pgx.Conn, error) {
	dsn, err := drills.ExpandEnv(f.spec.DataCorruption.DSN, f.lookup)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", redactDSN(dsn), err)
	}
	return conn, nil
}

func (f *dataCorruption) exec(ctx context.Context, sql string) (int64, error) {
	conn, err := f.conn(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	tag, err := conn.Exec(ctx, sql)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// still runs undoIf: whether the corruption is still there.
func (f *dataCorruption) still(ctx context.Context, query string) (bool, error) {
	conn, err := f.conn(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var v *bool
	if err := conn.QueryRow(ctx, query).Scan(&v); err != nil {
		return false, fmt.Errorf("%q must return one boolean: %w", query, err)
	}
	return v != nil && *v, nil
}

func (f *dataCorruption) Inject(ctx context.Context) (*Injection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.spec.DataCorruption
	obj := "Database " + redactDSN(s.DSN)
	inj := &Injection{Type: f.spec.Type, DryRun: f.deps.DryRun, At: f.deps.Now(),
		Targets: []Target{{Kind: "Database", Name: redactDSN(s.DSN)}},
		Changes: []Change{{Object: obj, Action: "sql", Detail: s.SQL}}}
	if f.deps.DryRun {
		return inj, nil
	}
	n, err := f.exec(ctx, s.SQL)
	if err != nil {
		return nil, fmt.Errorf("scenarios: data-corruption: %w", err)
	}
	f.injected, f.rows, f.proof = true, n, ""
	f.deps.Logger.InfoContext(ctx, "data-corruption: statement ran", "rows", n)
	return inj, nil
}

// Remove runs undoSQL, if any, and when undoIf is set only while it says
// the corruption is still there.
func (f *dataCorruption) Remove(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.injected {
		return nil
	}
	s := f.spec.DataCorruption
	if s.UndoSQL != "" && s.UndoIf != "" {
		still, err := f.still(ctx, s.UndoIf)
		if err != nil {
			return fmt.Errorf("scenarios: data-corruption: undoIf: %w", err)
		}
		if !still {
			f.deps.Logger.InfoContext(ctx, "data-corruption: already repaired, undoSQL skipped", "undoIf", s.UndoIf)
			f.injected = false
			return nil
		}
	}
	if u := s.UndoSQL; u != "" {
		if _, err := f.exec(ctx, u); err != nil {
			return fmt.Errorf("scenarios: data-corruption: undo: %w", err)
		}
	}
	f.injected = false
	return nil
}

// Status proves the corruption by its effect on the data: the drill's
// invariants (its consistency checks, which held before the fault) turned
// false; else re-reading the data with undoIf says the corruption is
// there. Only a drill with neither falls back to the rows the statement
// changed. Once seen, the proof stays (a guard may repair the data within
// seconds).
func (f *dataCorruption) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.injected {
		return Status{}, ErrNotInjected
	}
	rows := fmt.Sprintf("the statement changed %d rows", f.rows)
	if f.proof != "" {
		return Status{Injected: true, Effective: true, Message: f.proof, Evidence: []string{rows}}, nil
	}
	s := f.spec.DataCorruption
	st := Status{Injected: true, Evidence: []string{rows}}
	if f.deps.Invariants != nil {
		violated, err := f.deps.Invariants.Violated(ctx)
		if err != nil {
			return Status{}, fmt.Errorf("scenarios: data-corruption: invariants: %w", err)
		}
		if len(violated) > 0 {
			f.proof = "the drill's invariants turned false after the injection: " + strings.Join(violated, "; ")
			st.Effective, st.Message = true, f.proof
			return st, nil
		}
		st.Message = "the drill's consistency checks still hold"
		st.Evidence = append(st.Evidence, st.Message)
	}
	if s.UndoIf != "" {
		still, err := f.still(ctx, s.UndoIf)
		if err != nil {
			return Status{}, fmt.Errorf("scenarios: data-corruption: undoIf: %w", err)
		}
		if still {
			f.proof = fmt.Sprintf("re-reading the data: undoIf %q returns true, the corruption is in the data", s.UndoIf)
			if st.Message != "" {
				f.proof += " (" + st.Message + ")"
			}
			st.Effective, st.Message = true, f.proof
			return st, nil
		}
		st.Message = strings.TrimPrefix(st.Message+"; undoIf says the corruption is not in the data", "; ")
		return st, nil
	}
	if f.deps.Invariants == nil && f.rows > 0 {
		f.proof = rows + " (the drill has no consistency check nor undoIf to re-read them)"
		st.Effective, st.Message = true, f.proof
		return st, nil
	}
	if st.Message == "" {
		st.Message = rows
	}
	return st, nil
}
