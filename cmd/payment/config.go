package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Environment variables read by LoadConfig.
const (
	EnvDSN         = "PAYMENT_DSN"
	EnvListen      = "PAYMENT_LISTEN"
	EnvVersion     = "PAYMENT_VERSION"
	EnvBehaviour   = "PAYMENT_BEHAVIOUR"
	EnvFaultRate   = "PAYMENT_FAULT_RATE"
	EnvFaultPeriod = "PAYMENT_FAULT_PERIOD"
	EnvSlowDelay   = "PAYMENT_SLOW_DELAY"
	EnvCrashAfter  = "PAYMENT_CRASH_AFTER"
	EnvLedgerMode  = "LEDGER_MODE"
	EnvAccounts    = "PAYMENT_ACCOUNTS"
)

// Defaults applied by LoadConfig when a variable is unset or empty.
const (
	DefaultListen         = ":8080"
	DefaultVersion        = "dev"
	DefaultBuggyFaultRate = 0.05
	DefaultCorruptRate    = 0.1
	DefaultSlowDelay      = 1500 * time.Millisecond
	DefaultCrashAfter     = 3 * time.Second
	DefaultAccounts       = 100
	// InitialBalance is every seeded account's opening balance.
	InitialBalance int64 = 1000
	// LedgerModeNormal is the only LEDGER_MODE value under which the ledger
	// endpoints work; any other value (the bad-config drill pushes
	// "broken") makes them answer 503.
	LedgerModeNormal = "normal"
	// maxAccounts bounds PAYMENT_ACCOUNTS so a typo cannot seed millions.
	maxAccounts = 1_000_000
)

// Config is the service configuration, read from the environment only so
// that no credential is ever baked into an image.
type Config struct {
	// DSN is the PostgreSQL connection string (PAYMENT_DSN, required). It
	// holds a password: never log it.
	DSN string
	// Listen is the HTTP listen address (PAYMENT_LISTEN, default ":8080").
	Listen string
	// Version is reported in payment_build_info (PAYMENT_VERSION).
	Version string
	// Behaviour selects a good or a deliberately bad release
	// (PAYMENT_BEHAVIOUR, default good).
	Behaviour Behaviour
	// FaultRate is, for buggy, the share of ledger requests answered 500 and,
	// for corrupt, the share of transfers that debit without crediting
	// (PAYMENT_FAULT_RATE, 0..1; default 0.05 for buggy, 0.1 for corrupt).
	FaultRate float64
	// FaultPeriod, when set, makes the fault flap (PAYMENT_FAULT_PERIOD, a
	// Go duration, default 0: always on): it is on for the first half of
	// every period, counted on the wall clock so that every replica flaps
	// together, and off for the second half. While on it hits an exact
	// share of requests (every 1/FaultRate-th), so that a rule reads a
	// steady level rather than a noisy draw.
	FaultPeriod time.Duration
	// SlowDelay is the latency the slow behaviour adds to each ledger
	// request (PAYMENT_SLOW_DELAY, a Go duration, default 1500ms).
	SlowDelay time.Duration
	// CrashAfter is how long the crash behaviour runs before exit(1)
	// (PAYMENT_CRASH_AFTER, a Go duration, default 3s).
	CrashAfter time.Duration
	// LedgerMode is LEDGER_MODE from the payment-config ConfigMap; anything
	// but "normal" (or unset) breaks every ledger request with 503.
	LedgerMode string
	// Accounts is the number of accounts seeded into an empty database
	// (PAYMENT_ACCOUNTS, default 100), with ids 0..Accounts-1 and
	// InitialBalance each.
	Accounts int
}

// LedgerBroken reports whether LEDGER_MODE is anything but normal.
func (c Config) LedgerBroken() bool { return c.LedgerMode != LedgerModeNormal }

// LoadConfig reads the configuration through getenv (os.Getenv in main, a
// map in tests). It reports every invalid variable at once, each naming the
// variable, the value and what is expected.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := Config{
		DSN:        get(EnvDSN),
		Listen:     get(EnvListen),
		Version:    get(EnvVersion),
		LedgerMode: get(EnvLedgerMode),
	}
	var errs []error
	if c.DSN == "" {
		errs = append(errs, fmt.Errorf("%s is required: a PostgreSQL URL such as postgres://ledger:PASSWORD@HOST:5432/ledger (in Kubernetes it comes from the payment-db Secret)", EnvDSN))
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.LedgerMode == "" {
		c.LedgerMode = LedgerModeNormal
	}

	b, err := ParseBehaviour(get(EnvBehaviour))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvBehaviour, err))
	}
	c.Behaviour = b
	c.FaultRate = b.defaultFaultRate()
	if v := get(EnvFaultRate); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s: %q is not a number between 0 and 1 (e.g. 0.05 for 5%%)", EnvFaultRate, v))
		} else {
			c.FaultRate = r
		}
	}
	c.FaultPeriod, err = durationEnv(get, EnvFaultPeriod, 0)
	if err != nil {
		errs = append(errs, err)
	}
	c.SlowDelay, err = durationEnv(get, EnvSlowDelay, DefaultSlowDelay)
	if err != nil {
		errs = append(errs, err)
	}
	c.CrashAfter, err = durationEnv(get, EnvCrashAfter, DefaultCrashAfter)
	if err != nil {
		errs = append(errs, err)
	}
	c.Accounts = DefaultAccounts
	if v := get(EnvAccounts); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAccounts {
			errs = append(errs, fmt.Errorf("%s: %q is not a whole number between 1 and %d", EnvAccounts, v, maxAccounts))
		} else {
			c.Accounts = n
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return c, nil
}

// durationEnv parses a non-negative Go duration from key, or returns def.
func durationEnv(get func(string) string, key string, def time.Duration) (time.Duration, error) {
	v := get(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative duration (e.g. 1500ms or 3s)", key, v)
	}
	return d, nil
}
