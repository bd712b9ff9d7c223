// Command pomerium-databroker serves Pomerium's own databroker server (the one Pomerium
// builds with databroker.NewServer: backend + clustered wrapper + shared-secret check) over
// plaintext gRPC (h2c) on loopback, so our TypeScript tests can judge the SDK against the
// real thing. It is a test peer, not a deployment: no TLS, no Envoy, no identity manager.
//
// On success it prints exactly one line starting with "READY " on stdout, e.g.
//
//	READY addr=127.0.0.1:41234 admin=127.0.0.1:41235 storage=memory server_version=123 pomerium_version=v0.32.9
//
// Pomerium's own log lines go to stdout too (its logger writes there); readers look only
// for the READY prefix. See README.md for flags and the admin channel.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pomerium/pomerium/config"
	"github.com/pomerium/pomerium/databroker"
	"github.com/pomerium/pomerium/pkg/cryptutil"
	pomgrpc "github.com/pomerium/pomerium/pkg/grpc"
	databrokerpb "github.com/pomerium/pomerium/pkg/grpc/databroker"
	registrypb "github.com/pomerium/pomerium/pkg/grpc/registry"
	"github.com/pomerium/pomerium/pkg/grpcutil"
)

type flags struct {
	storage          string
	dsn              string
	sharedSecret     string
	sharedSecretFile string
	host             string
	port             int
	adminPort        int
	exitOnStdinEOF   bool
	logLevel         string
	cluster          clusterFlags
}

func parseFlags() flags {
	var f flags
	flag.StringVar(&f.storage, "storage", "memory", "databroker storage type: memory | file | postgres")
	flag.StringVar(&f.dsn, "dsn", "", "storage connection string (file: file:///dir or /dir; postgres: pgx DSN)")
	flag.StringVar(&f.sharedSecret, "shared-secret", "", "shared secret (base64 of 32 bytes); prefer -shared-secret-file or env SHARED_SECRET")
	flag.StringVar(&f.sharedSecretFile, "shared-secret-file", "", "file holding the shared secret, used raw like Pomerium's shared_secret_file")
	flag.StringVar(&f.host, "host", "127.0.0.1", "address to listen on (loopback for tests)")
	flag.IntVar(&f.port, "port", 0, "gRPC port (0 = ephemeral)")
	flag.IntVar(&f.adminPort, "admin-port", 0, "admin HTTP port (0 = ephemeral)")
	flag.BoolVar(&f.exitOnStdinEOF, "exit-on-stdin-eof", false, "stop when stdin closes (so a crashed test runner leaves no server behind)")
	flag.StringVar(&f.logLevel, "log-level", "info", "minimum level of Pomerium's log lines (trace, debug, info, warn, error)")
	f.cluster.register()
	flag.Parse()
	if f.sharedSecret == "" {
		f.sharedSecret = os.Getenv("SHARED_SECRET")
	}
	return f
}

func main() {
	if err := run(parseFlags()); err != nil {
		fmt.Fprintf(os.Stderr, "pomerium-databroker: %v\n", err)
		os.Exit(1)
	}
}

func run(f flags) error {
	switch f.storage {
	case config.StorageInMemoryName, config.StorageFileName, config.StoragePostgresName:
	default:
		return fmt.Errorf("unknown -storage %q: want memory, file or postgres", f.storage)
	}

	level, err := zerolog.ParseLevel(f.logLevel)
	if err != nil {
		return fmt.Errorf("bad -log-level: %w", err)
	}
	// Pomerium logs through zerolog; the global level is the one knob reachable from outside.
	zerolog.SetGlobalLevel(level)

	// Pomerium reads shared_secret_file again each time it derives the key (a follower building
	// its client to a newly elected leader does), and our tests delete the file once the peer is
	// ready: read it once here. Pomerium applies the same checks to an inline secret.
	if f.sharedSecretFile != "" {
		raw, err := os.ReadFile(f.sharedSecretFile)
		if err != nil {
			return fmt.Errorf("read -shared-secret-file: %w", err)
		}
		f.sharedSecret, f.sharedSecretFile = string(raw), ""
	}

	opts := config.NewDefaultOptions()
	opts.Services = config.ServiceDataBroker
	opts.SharedKey = f.sharedSecret
	opts.SharedSecretFile = f.sharedSecretFile
	opts.DataBroker.StorageType = f.storage
	opts.DataBroker.StorageConnectionString = f.dsn
	if err := f.cluster.apply(&opts.DataBroker); err != nil {
		return err
	}
	// Pomerium's own checks of the cluster settings (node ids, addresses, leader in the list).
	if err := opts.DataBroker.Validate(); err != nil {
		return err
	}
	cfg := &config.Config{Options: opts}

	// The same checks Pomerium's databroker service runs before it starts (databroker.validate).
	sharedKey, err := opts.GetSharedKey()
	if err != nil {
		return fmt.Errorf("invalid shared secret: %w", err)
	}
	if _, err := cryptutil.NewAEADCipher(sharedKey); err != nil {
		return fmt.Errorf("invalid shared secret: %w", err)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()

	if err := f.cluster.checkRaftBindAddress(); err != nil {
		return err
	}
	srv := databroker.NewServer(noop.NewTracerProvider(), cfg)
	// NewServer only hands the config to the inner layers; the shared-secret layer loads its
	// key on OnConfigChange, exactly as Pomerium's service does after construction.
	srv.OnConfigChange(ctx, cfg)
	defer srv.Stop()

	backend, err := newBackendAccess(srv)
	if err != nil {
		return err
	}

	pomeriumVersion := moduleVersion("github.com/pomerium/pomerium")
	si, ui := streamAndUnaryVersionInterceptors(pomeriumVersion)
	// Keepalive settings of Pomerium's standalone databroker gRPC server (databroker.New).
	grpcServer := grpc.NewServer(
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 5 * time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Minute, PermitWithoutStream: true}),
		grpc.ChainStreamInterceptor(si),
		grpc.ChainUnaryInterceptor(ui),
	)
	databrokerpb.RegisterCheckpointServiceServer(grpcServer, srv)
	databrokerpb.RegisterDataBrokerServiceServer(grpcServer, srv)
	registrypb.RegisterRegistryServer(grpcServer, srv)
	grpc_health_v1.RegisterHealthServer(grpcServer, pomgrpc.NewHealthCheckServer())

	lis, err := net.Listen("tcp", net.JoinHostPort(f.host, fmt.Sprint(f.port)))
	if err != nil {
		return fmt.Errorf("listen gRPC: %w", err)
	}
	adminLis, err := net.Listen("tcp", net.JoinHostPort(f.host, fmt.Sprint(f.adminPort)))
	if err != nil {
		return fmt.Errorf("listen admin: %w", err)
	}

	issuer, err := newAssertionIssuer(lis.Addr().String(), sharedKey)
	if err != nil {
		return err
	}
	defer issuer.close()

	grpcErr := make(chan error, 1)
	go func() { grpcErr <- grpcServer.Serve(lis) }()
	adminServer := &http.Server{Handler: newAdminHandler(backend, issuer), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = adminServer.Serve(adminLis) }()

	// Ready means: a real client with a signed JWT got ServerInfo over the socket. That also
	// builds the storage backend (lazy in Pomerium), so Postgres migrations are done by now.
	info, err := serverInfo(ctx, lis.Addr().String(), sharedKey, f.cluster.enabled())
	if err != nil {
		grpcServer.Stop()
		return fmt.Errorf("self-check ServerInfo: %w", err)
	}
	fmt.Printf("READY addr=%s admin=%s storage=%s server_version=%d pomerium_version=%s%s\n",
		lis.Addr(), adminLis.Addr(), f.storage, info.GetServerVersion(), pomeriumVersion, f.cluster.readyFields())

	if f.exitOnStdinEOF {
		go func() {
			buf := make([]byte, 256)
			for {
				if _, err := os.Stdin.Read(buf); err != nil {
					cancel()
					return
				}
			}
		}()
	}

	select {
	case <-ctx.Done():
	case err := <-grpcErr:
		return fmt.Errorf("gRPC server: %w", err)
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = adminServer.Shutdown(shutdownCtx)
	stopped := make(chan struct{})
	go func() { grpcServer.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-shutdownCtx.Done():
		grpcServer.Stop() // open Sync streams with wait=true never end on their own
	}
	return nil
}

// serverInfo is the readiness self-check. A cluster node asks in local request mode (its own
// storage answers), so a follower is ready without a round trip to the leader; until the
// cluster has elected a leader every call fails with CLUSTER_HAS_NO_LEADER (UNAVAILABLE), so a
// node keeps asking for the whole minute.
func serverInfo(ctx context.Context, addr string, sharedKey []byte, clustered bool) (*databrokerpb.ServerInfoResponse, error) {
	getKey := func() []byte { return sharedKey }
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(grpcutil.WithUnarySignedJWT(getKey)),
	)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := databrokerpb.NewDataBrokerServiceClient(cc)
	if clustered {
		ctx = databrokerpb.WithOutgoingClusterRequestMode(ctx, databrokerpb.ClusterRequestModeLocal)
		for {
			info, err := client.ServerInfo(ctx, &emptypb.Empty{}, grpc.WaitForReady(true))
			if status.Code(err) != codes.Unavailable || ctx.Err() != nil {
				return info, err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Retry as Pomerium's own clients would: two instances starting together on an empty
	// Postgres database race in CREATE SCHEMA IF NOT EXISTS, and the loser's first RPC fails
	// ("error running migrations: duplicate key ... pg_namespace_nspname_index"); its
	// backend initialises on the next call.
	for attempt := 1; ; attempt++ {
		info, err := client.ServerInfo(ctx, &emptypb.Empty{}, grpc.WaitForReady(true))
		if err == nil || attempt == 10 || status.Code(err) == codes.Unauthenticated || ctx.Err() != nil {
			return info, err
		}
		fmt.Fprintf(os.Stderr, "pomerium-databroker: ServerInfo attempt %d failed, retrying: %v\n", attempt, err)
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
}

// streamAndUnaryVersionInterceptors attach x-pomerium-version like Pomerium's databroker does.
// Pomerium sends its own build version there; ours names the Pomerium module version we built.
func streamAndUnaryVersionInterceptors(version string) (grpc.StreamServerInterceptor, grpc.UnaryServerInterceptor) {
	ui, si := grpcutil.AttachMetadataInterceptors(metadata.Pairs(grpcutil.MetadataKeyPomeriumVersion, version))
	return si, ui
}

func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range bi.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "unknown"
}

var errNoBackend = errors.New("storage backend not built yet")
