package drills

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"PGUSER": "ledger", "PGPASS": "s3cr$t", "HOST": "127.0.0.1"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := ExpandEnv("postgres://${PGUSER}:${PGPASS}@${HOST}:5432/ledger?x=$HOME", lookup)
	require.NoError(t, err)
	require.Equal(t, "postgres://ledger:s3cr$t@127.0.0.1:5432/ledger?x=$HOME", got, "only ${NAME} is expanded")
	_, err = ExpandEnv("postgres://${MISSING}:${PGPASS}@h/db", lookup)
	require.ErrorContains(t, err, "MISSING")
	require.NotContains(t, err.Error(), "s3cr$t")
}
