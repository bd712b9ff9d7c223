package main

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/pomerium/pomerium/pkg/storage"
)

// backendAccess reaches the storage backend inside the server that databroker.NewServer
// built, so the admin channel can run the same Clean call as Pomerium's once-a-minute
// cleaner (internal/databroker/server_backend.go periodicallyClean). Pomerium exposes no
// public handle to it, so we follow the unexported fields of the wrapper chain
// securedServer.underlying -> clusteredServer.local -> backendServer{mu, backend}
// with reflection. If Pomerium renames any of them, newBackendAccess fails loudly at start.
type backendAccess struct {
	mu      *sync.RWMutex
	backend reflect.Value // the backendServer.backend field (a storage.Backend interface)
}

func newBackendAccess(srv any) (*backendAccess, error) {
	secured, err := pointee(reflect.ValueOf(srv), "securedServer")
	if err != nil {
		return nil, err
	}
	clustered, err := pointee(field(secured, "underlying"), "clusteredServer")
	if err != nil {
		return nil, err
	}
	backendSrv, err := pointee(field(clustered, "local"), "backendServer")
	if err != nil {
		return nil, err
	}
	mu, ok := field(backendSrv, "mu").Addr().Interface().(*sync.RWMutex)
	if !ok {
		return nil, fmt.Errorf("backendServer.mu is not a sync.RWMutex: Pomerium's layout changed")
	}
	b := field(backendSrv, "backend")
	if b.Type() != reflect.TypeFor[storage.Backend]() {
		return nil, fmt.Errorf("backendServer.backend is %s, not storage.Backend: Pomerium's layout changed", b.Type())
	}
	return &backendAccess{mu: mu, backend: b}, nil
}

// compact removes every change except the newest one, as the periodic cleaner does once all
// changes are older than its one-hour retention: same backend method, cutoff "now".
func (a *backendAccess) compact(ctx context.Context) error {
	a.mu.RLock()
	backend, _ := a.backend.Interface().(storage.Backend)
	a.mu.RUnlock()
	if backend == nil {
		return errNoBackend
	}
	return backend.Clean(ctx, storage.CleanOptions{RemoveRecordChangesBefore: time.Now()})
}

// field returns an addressable, readable view of an unexported struct field.
func field(v reflect.Value, name string) reflect.Value {
	f := v.FieldByName(name)
	if !f.IsValid() {
		return f
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

// pointee unwraps interfaces and pointers down to a struct named want.
func pointee(v reflect.Value, want string) (reflect.Value, error) {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		v = v.Elem()
	}
	if !v.IsValid() || v.Kind() != reflect.Struct || v.Type().Name() != want {
		return reflect.Value{}, fmt.Errorf("expected Pomerium's %s in the server chain, found %v: Pomerium's layout changed", want, v)
	}
	return v, nil
}
