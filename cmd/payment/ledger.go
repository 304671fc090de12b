package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors of the ledger that the HTTP layer maps to status codes.
var (
	// ErrUnknownAccount means an account id does not exist (404).
	ErrUnknownAccount = errors.New("unknown account")
	// ErrInsufficientFunds means the debited account holds less than the
	// amount (409).
	ErrInsufficientFunds = errors.New("insufficient funds")
)

// TransferResult is a committed transfer.
type TransferResult struct {
	// ID is the transfers row id.
	ID int64 `json:"id"`
	// From is the debited account.
	From int `json:"from"`
	// To is the credited account.
	To int `json:"to"`
	// Amount is the amount moved.
	Amount int64 `json:"amount"`
	// FromBalance is the debited account's balance afterwards.
	FromBalance int64 `json:"from_balance"`
	// ToBalance is the credited account's balance afterwards.
	ToBalance int64 `json:"to_balance"`
	// At is when the transfer was logged.
	At time.Time `json:"at"`
}

// Summary describes all accounts at one instant.
type Summary struct {
	// Count is the number of accounts.
	Count int64 `json:"count"`
	// Total is the sum of all balances.
	Total int64 `json:"total"`
	// ExpectedTotal is ledger_total.total, the sum that must always hold.
	ExpectedTotal int64 `json:"expected_total"`
	// Consistent reports Total == ExpectedTotal (the ledger invariant).
	Consistent bool `json:"consistent"`
}

// Store is what the HTTP server needs from the ledger; *Ledger is the
// PostgreSQL implementation and tests may use a fake.
type Store interface {
	// Transfer moves amount from one account to another in one atomic
	// transaction; with skipCredit it debits without crediting (the
	// corrupt behaviour) while still logging the transfer.
	Transfer(ctx context.Context, from, to int, amount int64, skipCredit bool) (TransferResult, error)
	// Balance returns one account's balance.
	Balance(ctx context.Context, id int) (int64, error)
	// Summary returns the count and total of all accounts.
	Summary(ctx context.Context) (Summary, error)
	// Mismatch returns |sum(balance) - ledger_total|.
	Mismatch(ctx context.Context) (int64, error)
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
}

// Ledger is the PostgreSQL Store on a pgx pool. Run Migrate first.
type Ledger struct {
	pool *pgxpool.Pool
}

// NewLedger returns a Ledger on pool; the caller owns and closes the pool.
func NewLedger(pool *pgxpool.Pool) *Ledger { return &Ledger{pool: pool} }

// Transfer implements Store. Both rows are locked in id order (SELECT ...
// ORDER BY id FOR UPDATE), so concurrent transfers never deadlock.
func (l *Ledger) Transfer(ctx context.Context, from, to int, amount int64, skipCredit bool) (TransferResult, error) {
	res := TransferResult{From: from, To: to, Amount: amount}
	for _, id := range []int{from, to} {
		if !validID(id) {
			return TransferResult{}, fmt.Errorf("transfer: account %d: %w", id, ErrUnknownAccount)
		}
	}
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, balance FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, []int32{int32(from), int32(to)})
		if err != nil {
			return fmt.Errorf("lock accounts: %w", err)
		}
		balances := map[int]int64{}
		for rows.Next() {
			var id int32
			var bal int64
			if err := rows.Scan(&id, &bal); err != nil {
				rows.Close()
				return fmt.Errorf("lock accounts: %w", err)
			}
			balances[int(id)] = bal
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock accounts: %w", err)
		}
		for _, id := range []int{from, to} {
			if _, ok := balances[id]; !ok {
				return fmt.Errorf("account %d: %w", id, ErrUnknownAccount)
			}
		}
		if balances[from] < amount {
			return fmt.Errorf("account %d holds %d, transfer needs %d: %w", from, balances[from], amount, ErrInsufficientFunds)
		}
		if err := tx.QueryRow(ctx, `UPDATE accounts SET balance = balance - $2 WHERE id = $1 RETURNING balance`, from, amount).Scan(&res.FromBalance); err != nil {
			return fmt.Errorf("debit account %d: %w", from, err)
		}
		res.ToBalance = res.FromBalance
		if from != to {
			res.ToBalance = balances[to]
		}
		if !skipCredit {
			if err := tx.QueryRow(ctx, `UPDATE accounts SET balance = balance + $2 WHERE id = $1 RETURNING balance`, to, amount).Scan(&res.ToBalance); err != nil {
				return fmt.Errorf("credit account %d: %w", to, err)
			}
			if from == to {
				res.FromBalance = res.ToBalance
			}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO transfers (from_id, to_id, amount) VALUES ($1, $2, $3) RETURNING id, at`, from, to, amount).Scan(&res.ID, &res.At); err != nil {
			return fmt.Errorf("log transfer: %w", err)
		}
		return nil
	})
	if err != nil {
		return TransferResult{}, fmt.Errorf("transfer: %w", err)
	}
	return res, nil
}

// Balance implements Store.
func (l *Ledger) Balance(ctx context.Context, id int) (int64, error) {
	if !validID(id) {
		return 0, fmt.Errorf("balance: account %d: %w", id, ErrUnknownAccount)
	}
	var bal int64
	err := l.pool.QueryRow(ctx, `SELECT balance FROM accounts WHERE id = $1`, id).Scan(&bal)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("balance: account %d: %w", id, ErrUnknownAccount)
	}
	if err != nil {
		return 0, fmt.Errorf("balance: %w", err)
	}
	return bal, nil
}

// Summary implements Store; one statement, so one consistent snapshot.
func (l *Ledger) Summary(ctx context.Context) (Summary, error) {
	var s Summary
	err := l.pool.QueryRow(ctx, `SELECT count(*), COALESCE(SUM(balance), 0)::bigint, (SELECT total FROM ledger_total) FROM accounts`).
		Scan(&s.Count, &s.Total, &s.ExpectedTotal)
	if err != nil {
		return Summary{}, fmt.Errorf("summary: %w", err)
	}
	s.Consistent = s.Total == s.ExpectedTotal
	return s, nil
}

// Mismatch implements Store; one statement, so one consistent snapshot.
func (l *Ledger) Mismatch(ctx context.Context) (int64, error) {
	var m int64
	err := l.pool.QueryRow(ctx, `SELECT abs((SELECT COALESCE(SUM(balance), 0) FROM accounts) - (SELECT total FROM ledger_total))::bigint`).Scan(&m)
	if err != nil {
		return 0, fmt.Errorf("ledger mismatch: %w", err)
	}
	return m, nil
}

// Ping implements Store.
func (l *Ledger) Ping(ctx context.Context) error {
	if err := l.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// validID reports whether id fits accounts.id (a PostgreSQL integer).
func validID(id int) bool { return id >= math.MinInt32 && id <= math.MaxInt32 }
