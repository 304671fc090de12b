package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// transferRequest is the body of POST /transfers; every field is required.
type transferRequest struct {
	From   *int   `json:"from"`
	To     *int   `json:"to"`
	Amount *int64 `json:"amount"`
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

// ledgerGate applies the configuration and behaviour to a ledger request
// before h runs: a LEDGER_MODE other than normal answers 503 ("bad
// config"), buggy answers 500 on a FaultRate share, slow waits SlowDelay.
// The corrupt behaviour acts inside handleTransfer.
func (s *Server) ledgerGate(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.LedgerBroken() {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("bad config: LEDGER_MODE=%q (want %q)", s.cfg.LedgerMode, LedgerModeNormal))
			return
		}
		switch s.cfg.Behaviour {
		case BehaviourBuggy:
			if s.faults.hit() {
				writeError(w, http.StatusInternalServerError, "internal error")
				return
			}
		case BehaviourSlow:
			if err := sleepCtx(r.Context(), s.cfg.SlowDelay); err != nil {
				writeError(w, http.StatusServiceUnavailable, "request cancelled")
				return
			}
		}
		h(w, r)
	}
}

// handleTransfer serves POST /transfers.
func (s *Server) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var req transferRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	switch {
	case req.From == nil || req.To == nil || req.Amount == nil:
		writeError(w, http.StatusBadRequest, `"from", "to" and "amount" are required`)
		return
	case *req.Amount <= 0:
		writeError(w, http.StatusBadRequest, `"amount" must be positive`)
		return
	}
	skipCredit := s.cfg.Behaviour == BehaviourCorrupt && s.faults.hit()
	res, err := s.store.Transfer(r.Context(), *req.From, *req.To, *req.Amount, skipCredit)
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// handleBalance serves GET /balances/{id}.
func (s *Server) handleBalance(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("account id %q is not a whole number", r.PathValue("id")))
		return
	}
	bal, err := s.store.Balance(r.Context(), id)
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"id": int64(id), "balance": bal})
}

// handleAccounts serves GET /accounts.
func (s *Server) handleAccounts(w http.ResponseWriter, r *http.Request) {
	sum, err := s.store.Summary(r.Context())
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// handleHealthz serves GET /healthz: liveness, the process is up.
func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz serves GET /readyz: ready when started, not draining, not the crash
// behaviour, and the database answers a ping within a second. A bad
// LEDGER_MODE leaves the pod ready on purpose: a bad config push must show
// up as errors, not only as restarts.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.draining.Load():
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	case s.starting.Load():
		writeError(w, http.StatusServiceUnavailable, "starting: waiting for the database migrations")
		return
	case s.cfg.Behaviour == BehaviourCrash:
		writeError(w, http.StatusServiceUnavailable, "crash behaviour: never ready")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyPingTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "database not reachable: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// writeStoreError maps a Store error to a status: unknown account 404,
// insufficient funds 409, a cancelled request 503, anything else 500.
func (s *Server) writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrUnknownAccount):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrInsufficientFunds):
		writeError(w, http.StatusConflict, err.Error())
	case r.Context().Err() != nil:
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		s.log.ErrorContext(r.Context(), "ledger request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// writeJSON writes v as a JSON answer with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes an errorBody answer.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// sleepCtx waits d or until ctx is done, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
