package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// envOf returns a getenv over m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(envOf(map[string]string{EnvDSN: "postgres://ledger:pw@db:5432/ledger"}))
	require.NoError(t, err)
	require.Equal(t, Config{
		DSN:        "postgres://ledger:pw@db:5432/ledger",
		Listen:     ":8080",
		Version:    "dev",
		Behaviour:  BehaviourGood,
		FaultRate:  0,
		SlowDelay:  1500 * time.Millisecond,
		CrashAfter: 3 * time.Second,
		LedgerMode: "normal",
		Accounts:   100,
	}, c)
	require.False(t, c.LedgerBroken())
}

func TestLoadConfigPerBehaviourFaultRate(t *testing.T) {
	for b, want := range map[string]float64{"buggy": 0.05, "corrupt": 0.1, "slow": 0, "crash": 0, "good": 0} {
		c, err := LoadConfig(envOf(map[string]string{EnvDSN: "x", EnvBehaviour: b}))
		require.NoError(t, err, b)
		require.Equal(t, want, c.FaultRate, b)
	}
	c, err := LoadConfig(envOf(map[string]string{
		EnvDSN: "x", EnvBehaviour: "buggy", EnvFaultRate: "0.2", EnvFaultPeriod: "40s", EnvSlowDelay: "2s",
		EnvCrashAfter: "500ms", EnvLedgerMode: "broken", EnvAccounts: "7", EnvVersion: "v2-buggy", EnvListen: "127.0.0.1:9000",
	}))
	require.NoError(t, err)
	require.Equal(t, 0.2, c.FaultRate)
	require.Equal(t, 40*time.Second, c.FaultPeriod)
	require.Equal(t, 2*time.Second, c.SlowDelay)
	require.Equal(t, 500*time.Millisecond, c.CrashAfter)
	require.True(t, c.LedgerBroken())
	require.Equal(t, 7, c.Accounts)
	require.Equal(t, "v2-buggy", c.Version)
	require.Equal(t, "127.0.0.1:9000", c.Listen)
}

func TestLoadConfigErrorsAreClear(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"missing DSN", map[string]string{}, []string{"PAYMENT_DSN is required", "payment-db Secret"}},
		{"unknown behaviour", map[string]string{EnvDSN: "x", EnvBehaviour: "flaky"},
			[]string{`PAYMENT_BEHAVIOUR: unknown behaviour "flaky" (want one of good, buggy, slow, crash, corrupt)`}},
		{"rate not a number", map[string]string{EnvDSN: "x", EnvFaultRate: "five"},
			[]string{`PAYMENT_FAULT_RATE: "five" is not a number between 0 and 1`}},
		{"rate above 1", map[string]string{EnvDSN: "x", EnvFaultRate: "5"},
			[]string{`PAYMENT_FAULT_RATE: "5" is not a number between 0 and 1`}},
		{"delay without unit", map[string]string{EnvDSN: "x", EnvSlowDelay: "1500"},
			[]string{`PAYMENT_SLOW_DELAY: "1500" is not a non-negative duration (e.g. 1500ms or 3s)`}},
		{"period without unit", map[string]string{EnvDSN: "x", EnvFaultPeriod: "40"},
			[]string{`PAYMENT_FAULT_PERIOD: "40" is not a non-negative duration`}},
		{"negative crash", map[string]string{EnvDSN: "x", EnvCrashAfter: "-1s"},
			[]string{`PAYMENT_CRASH_AFTER: "-1s" is not a non-negative duration`}},
		{"zero accounts", map[string]string{EnvDSN: "x", EnvAccounts: "0"},
			[]string{`PAYMENT_ACCOUNTS: "0" is not a whole number between 1 and 1000000`}},
		{"all at once", map[string]string{EnvBehaviour: "nope", EnvAccounts: "many"},
			[]string{"PAYMENT_DSN is required", "PAYMENT_BEHAVIOUR", "PAYMENT_ACCOUNTS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(envOf(tc.env))
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "config: "), err.Error())
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadConfigNeverEchoesTheDSN(t *testing.T) {
	_, err := LoadConfig(envOf(map[string]string{EnvDSN: "postgres://ledger:s3cret@db/ledger", EnvBehaviour: "bad"}))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")
}
