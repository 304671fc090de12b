package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRouteLabel(t *testing.T) {
	for in, want := range map[string]string{
		"GET /balances/{id}":            "/balances/{id}",
		"POST /transfers":               "/transfers",
		"/accounts":                     "/accounts",
		"GET example.com/balances/{id}": "/balances/{id}",
		"":                              "unmatched",
		"GET":                           "unmatched",
	} {
		require.Equal(t, want, routeLabel(in), in)
	}
}
