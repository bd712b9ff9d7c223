package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// newAdminHandler serves the test-only side channel on its own loopback port:
//
//	POST /compact  drop every change except the newest (Pomerium's cleaner with cutoff now)
//	GET  /healthz  "ok"
//
// and the assertion issuer's routes (assertion_issuer.go: POST /assertion, the JWKS, key rotation).
//
// It carries no authentication: it listens on loopback and exists only in tests.
func newAdminHandler(backend *backendAccess, issuer *assertionIssuer) http.Handler {
	mux := http.NewServeMux()
	issuer.register(mux)
	mux.HandleFunc("POST /compact", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if err := backend.compact(ctx); err != nil {
			http.Error(w, fmt.Sprintf("compact: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}
