// Command go-syncquerier is the benchmark baseline: Pomerium's own storage.NewSyncQuerier (one per
// record type, as Pomerium's authorize service builds them) syncing from a databroker, measured the
// same way bench/ measures the TypeScript cache. It prints one JSON object on stdout.
//
// The shared secret comes from env BENCH_SHARED_SECRET (base64 of 32 bytes), never from argv.
//
// -mode sync (the reader) measures:
//   - time from creating the queriers to every type answering queries (ready), polled every 1 ms;
//   - Go heap (runtime.ReadMemStats HeapAlloc after runtime.GC) attributable to the synced records,
//     and the process RSS;
//   - Query-by-id latency on the synced collection (hot), and sequential Put round trips;
//   - with -prop-count: prints PROP-READY, then records when each prop-<tag>-<i> became visible.
//
// -mode floor is the limit the server sets: the fastest possible reader of its snapshot. For the
// same types as -mode sync, one SyncLatest stream per type (concurrently, on one connection, as
// the queriers open theirs); every message is received as raw bytes and discarded without
// decoding (a record is counted by the oneof tag in its first byte). It reports the time from
// start to the last stream's end (readyMs), records/s, bytes received and the process CPU time.
//
// -mode write is the neutral writer of the propagation test (the same for the TS and the Go
// reader): Puts prop-<tag>-<i> at -prop-rate and prints each send time (unix ms). -mode delete
// removes those records afterwards, so every run syncs the same data.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	databrokerpb "github.com/pomerium/pomerium/pkg/grpc/databroker"
	sessionpb "github.com/pomerium/pomerium/pkg/grpc/session"
	"github.com/pomerium/pomerium/pkg/grpcutil"
	"github.com/pomerium/pomerium/pkg/storage"
)

const (
	sessionType        = "type.googleapis.com/session.Session"
	userType           = "type.googleapis.com/user.User"
	serviceAccountType = "type.googleapis.com/user.ServiceAccount"
)

// syncTypes are the types -mode sync and -mode floor read: the TS cache's default types.
var syncTypes = []string{sessionType, userType, serviceAccountType}

type result struct {
	Types              []string  `json:"types"`
	Sessions           int       `json:"sessions"`
	Users              int       `json:"users"`
	ReadyMs            float64   `json:"readyMs"`
	RecordsPerSec      float64   `json:"recordsPerSec"`
	HeapBaselineBytes  uint64    `json:"heapBaselineBytes"`
	HeapAfterBytes     uint64    `json:"heapAfterBytes"`
	HeapPerRecordBytes float64   `json:"heapPerRecordBytes"`
	RSSBytes           uint64    `json:"rssBytes"`
	QueryByIDNs        float64   `json:"queryByIdNs"`
	PutRoundTripMs     []float64 `json:"putRoundTripMs"`
	PutRoundTripColdMs []float64 `json:"putRoundTripColdMs"`
	PropVisibleUnixMs  []float64 `json:"propVisibleUnixMs"`
	GoVersion          string    `json:"goVersion"`
	PomeriumVersion    string    `json:"pomeriumVersion"`
}

func main() {
	mode := flag.String("mode", "sync", "sync: measure the SyncQuerier; floor: SyncLatest read and discarded; write: Put prop-<tag>-<i> at -prop-rate; delete: delete them")
	addr := flag.String("addr", "", "databroker address host:port (h2c)")
	propRate := flag.Int("prop-rate", 1000, "write mode: writes per second")
	propCount := flag.Int("prop-count", 0, "records the propagation test writes (0: no propagation test)")
	runTag := flag.String("run-tag", "go", "tag in the ids the propagation test writes")
	flag.Parse()
	if err := run(*mode, *addr, *propRate, *propCount, *runTag); err != nil {
		fmt.Fprintf(os.Stderr, "go-syncquerier: %v\n", err)
		os.Exit(1)
	}
}

func run(mode, addr string, propRate, propCount int, runTag string) error {
	if addr == "" {
		return errors.New("-addr is required")
	}
	key, err := base64.StdEncoding.DecodeString(os.Getenv("BENCH_SHARED_SECRET"))
	if err != nil || len(key) != 32 {
		return errors.New("env BENCH_SHARED_SECRET must be base64 of 32 bytes")
	}
	getKey := func() []byte { return key }
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(grpcutil.WithUnarySignedJWT(getKey)),
		grpc.WithChainStreamInterceptor(grpcutil.WithStreamSignedJWT(getKey)),
	)
	if err != nil {
		return err
	}
	defer cc.Close()
	client := databrokerpb.NewDataBrokerServiceClient(cc)
	ctx := context.Background()
	switch mode {
	case "write":
		return writeMode(ctx, client, propRate, propCount, runTag)
	case "delete":
		return deleteMode(ctx, client, propCount, runTag)
	case "floor":
		return floorMode(ctx, cc)
	case "sync":
	default:
		return fmt.Errorf("unknown -mode %q", mode)
	}

	res := result{Types: syncTypes, GoVersion: runtime.Version(), PomeriumVersion: pomeriumVersion()}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapBaselineBytes = ms.HeapAlloc

	// The clock starts before the connection is made (grpc.NewClient is lazy), as on the TS side.
	start := time.Now()
	queriers := map[string]storage.Querier{}
	for _, t := range res.Types {
		queriers[t] = storage.NewSyncQuerier(client, t)
	}
	defer func() {
		for _, q := range queriers {
			q.Stop()
		}
	}()
	probe := idFilter("bench-readiness-probe")
	deadline := time.Now().Add(5 * time.Minute)
	for _, t := range res.Types {
		for {
			_, err := queriers[t].Query(ctx, &databrokerpb.QueryRequest{Type: t, Filter: probe, Limit: 1})
			if err == nil {
				break
			}
			if !errors.Is(err, storage.ErrUnavailable) {
				return fmt.Errorf("query %s: %w", t, err)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not ready after 5 minutes", t)
			}
			time.Sleep(time.Millisecond)
		}
	}
	res.ReadyMs = float64(time.Since(start).Microseconds()) / 1000

	res.Sessions = count(ctx, queriers[sessionType], sessionType)
	res.Users = count(ctx, queriers[userType], userType)
	total := res.Sessions + res.Users
	res.RecordsPerSec = float64(total) / (res.ReadyMs / 1000)

	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	res.HeapAfterBytes = ms.HeapAlloc
	if total > 0 {
		res.HeapPerRecordBytes = float64(int64(ms.HeapAlloc)-int64(res.HeapBaselineBytes)) / float64(total)
	}
	res.RSSBytes = rss()

	res.QueryByIDNs = queryByIDNs(ctx, queriers[sessionType], res.Sessions)
	res.PutRoundTripColdMs, res.PutRoundTripMs = putRoundTripMs(ctx, client, runTag)
	if propCount > 0 {
		res.PropVisibleUnixMs = watchPropagation(ctx, queriers[sessionType], propCount, runTag, 30*time.Second)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

type floorType struct {
	Records  int     `json:"records"`
	Messages int     `json:"messages"`
	Bytes    int64   `json:"bytes"`
	EndMs    float64 `json:"endMs"`
}

type floorResult struct {
	Mode          string                `json:"mode"`
	Types         []string              `json:"types"`
	Records       int                   `json:"records"`
	Sessions      int                   `json:"sessions"`
	Users         int                   `json:"users"`
	Bytes         int64                 `json:"bytes"`
	ReadyMs       float64               `json:"readyMs"`
	RecordsPerSec float64               `json:"recordsPerSec"`
	CPUMs         float64               `json:"cpuMs"`
	PerType       map[string]*floorType `json:"perType"`
	GoVersion     string                `json:"goVersion"`
}

// rawFrame receives one message undecoded: its size and the first byte (the oneof's tag).
type rawFrame struct {
	size  int
	first byte
}

// discardCodec marshals requests as protobuf and hands responses over as rawFrame, never decoding
// them. Its name is "proto", so the content type on the wire is the usual application/grpc+proto.
type discardCodec struct{}

func (discardCodec) Name() string { return "proto" }

func (discardCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("discardCodec: cannot marshal %T", v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (discardCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*rawFrame)
	if !ok {
		return fmt.Errorf("discardCodec: cannot unmarshal into %T", v)
	}
	f.size = data.Len()
	f.first = 0
	for _, b := range data {
		if d := b.ReadOnlyData(); len(d) > 0 {
			f.first = d[0]
			break
		}
	}
	return nil
}

var syncLatestStream = &grpc.StreamDesc{StreamName: "SyncLatest", ServerStreams: true}

// SyncLatestResponse's oneof: field 1 (record), length-delimited, is tag byte 0x0a.
const recordTag = 1<<3 | 2

func floorMode(ctx context.Context, cc *grpc.ClientConn) error {
	res := floorResult{Mode: "floor", Types: syncTypes, PerType: map[string]*floorType{}, GoVersion: runtime.Version()}
	for _, t := range syncTypes {
		res.PerType[t] = &floorType{}
	}
	cpu0 := cpuMs()
	// The clock starts before the connection is made (grpc.NewClient is lazy), as in -mode sync.
	start := time.Now()
	errs := make(chan error, len(syncTypes))
	for _, t := range syncTypes {
		go func(t string, out *floorType) {
			errs <- func() error {
				stream, err := cc.NewStream(ctx, syncLatestStream, databrokerpb.DataBrokerService_SyncLatest_FullMethodName, grpc.ForceCodecV2(discardCodec{}))
				if err != nil {
					return err
				}
				if err := stream.SendMsg(&databrokerpb.SyncLatestRequest{Type: t}); err != nil {
					return err
				}
				if err := stream.CloseSend(); err != nil {
					return err
				}
				var f rawFrame
				for {
					err := stream.RecvMsg(&f)
					if errors.Is(err, io.EOF) {
						out.EndMs = float64(time.Since(start).Microseconds()) / 1000
						return nil
					}
					if err != nil {
						return fmt.Errorf("SyncLatest %s: %w", t, err)
					}
					out.Messages++
					out.Bytes += int64(f.size)
					if f.first == recordTag {
						out.Records++
					}
				}
			}()
		}(t, res.PerType[t])
	}
	for range syncTypes {
		if err := <-errs; err != nil {
			return err
		}
	}
	res.ReadyMs = float64(time.Since(start).Microseconds()) / 1000
	res.CPUMs = cpuMs() - cpu0
	for _, pt := range res.PerType {
		res.Records += pt.Records
		res.Bytes += pt.Bytes
	}
	res.Sessions = res.PerType[sessionType].Records
	res.Users = res.PerType[userType].Records
	res.RecordsPerSec = float64(res.Records) / (res.ReadyMs / 1000)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// cpuMs is the process's user + system CPU time so far.
func cpuMs() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func idFilter(id string) *structpb.Struct {
	s, _ := structpb.NewStruct(map[string]any{"id": id})
	return s
}

func count(ctx context.Context, q storage.Querier, t string) int {
	// No filter lists everything; only the total is kept.
	r, err := q.Query(ctx, &databrokerpb.QueryRequest{Type: t, Limit: 1})
	if err != nil {
		return -1
	}
	return int(r.GetTotalCount())
}

func queryByIDNs(ctx context.Context, q storage.Querier, sessions int) float64 {
	if sessions <= 0 {
		return 0
	}
	const n = 200_000
	filters := make([]*structpb.Struct, 1024)
	for i := range filters {
		filters[i] = idFilter("session-" + strconv.Itoa(rand.IntN(sessions)))
	}
	for i := 0; i < 20_000; i++ {
		_, _ = q.Query(ctx, &databrokerpb.QueryRequest{Type: sessionType, Filter: filters[i%len(filters)], Limit: 1})
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		_, _ = q.Query(ctx, &databrokerpb.QueryRequest{Type: sessionType, Filter: filters[i%len(filters)], Limit: 1})
	}
	return float64(time.Since(start).Nanoseconds()) / n
}

// A session of about the same shape and size as the TS generator's (src/demo/demo-records.ts).
func demoSession(id string, r *rand.Rand) *sessionpb.Session {
	tok := func(n int) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		var b strings.Builder
		b.Grow(n)
		for i := 0; i < n; i++ {
			b.WriteByte(alphabet[r.IntN(64)])
		}
		return b.String()
	}
	now := time.Now()
	list := func(vs ...string) *structpb.ListValue {
		l := &structpb.ListValue{}
		for _, v := range vs {
			l.Values = append(l.Values, structpb.NewStringValue(v))
		}
		return l
	}
	claims := map[string]*structpb.ListValue{"groups": list("engineering", "sre", "oncall")}
	for _, name := range []string{"email", "name", "preferred_username", "department", "locale"} {
		claims[name] = list(name + "-" + tok(12))
	}
	return &sessionpb.Session{
		Version:    "1",
		Id:         id,
		UserId:     "user-1",
		IdpId:      "idp-1",
		IssuedAt:   timestamppb.New(now.Add(-time.Minute)),
		AccessedAt: timestamppb.New(now),
		ExpiresAt:  timestamppb.New(now.Add(14 * time.Hour)),
		Audience:   []string{"app-1.example.com", "api.example.com"},
		IdToken: &sessionpb.IDToken{
			Issuer: "https://idp.example.com/", Subject: "user-1",
			IssuedAt: timestamppb.New(now.Add(-time.Minute)), ExpiresAt: timestamppb.New(now.Add(time.Hour)),
			Raw: "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + tok(640) + "." + tok(256),
		},
		OauthToken: &sessionpb.OAuthToken{AccessToken: tok(300), TokenType: "Bearer", ExpiresAt: timestamppb.New(now.Add(time.Hour)), RefreshToken: tok(100)},
		Claims:     claims,
	}
}

// writeMode Puts `count` new sessions (ids prop-<tag>-<i>) at `rate` per second, one record per
// Put, and prints the wall-clock send time of each (unix ms) and each Put's response time.
func writeMode(ctx context.Context, client databrokerpb.DataBrokerServiceClient, rate, count int, runTag string) error {
	r := rand.New(rand.NewPCG(7, 11))
	records := make([]*databrokerpb.Record, count)
	for i := range records {
		id := propID(runTag, i)
		data, err := anypb.New(demoSession(id, r))
		if err != nil {
			return err
		}
		records[i] = &databrokerpb.Record{Type: sessionType, Id: id, Data: data}
	}
	sent := make([]float64, count)
	acks := make([]float64, count)
	failed := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i, rec := range records {
		// Paced against the schedule, not the previous write, so slow writes do not lower the rate.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		t := time.Now()
		sent[i] = float64(t.UnixNano()) / 1e6
		wg.Add(1)
		go func(i int, rec *databrokerpb.Record) {
			defer wg.Done()
			_, err := client.Put(ctx, &databrokerpb.PutRequest{Records: []*databrokerpb.Record{rec}})
			d := float64(time.Since(t).Microseconds()) / 1000
			mu.Lock()
			acks[i] = d
			if err != nil {
				failed++
			}
			mu.Unlock()
		}(i, rec)
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"write": true, "sentUnixMs": sent, "ackMs": acks, "failed": failed})
}

// deleteMode deletes what writeMode wrote, so the next run syncs the same data set.
func deleteMode(ctx context.Context, client databrokerpb.DataBrokerServiceClient, count int, runTag string) error {
	for i := 0; i < count; i += 500 {
		var dels []*databrokerpb.Record
		for j := i; j < min(i+500, count); j++ {
			data, _ := anypb.New(&sessionpb.Session{Id: propID(runTag, j)})
			dels = append(dels, &databrokerpb.Record{Type: sessionType, Id: propID(runTag, j), Data: data, DeletedAt: timestamppb.Now()})
		}
		if _, err := client.Put(ctx, &databrokerpb.PutRequest{Records: dels}); err != nil {
			return fmt.Errorf("delete propagation records: %w", err)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"deleted": count})
}

func propID(runTag string, i int) string { return "prop-" + runTag + "-" + strconv.Itoa(i) }

// watchPropagation is the reader's side: after printing PROP-READY (the runner then starts the
// writer process), it polls Query by id for the lowest unseen ids (a window, since writes arrive
// in order) every 50 us, and records when each became visible (unix ms).
func watchPropagation(ctx context.Context, q storage.Querier, count int, runTag string, timeout time.Duration) []float64 {
	visible := make([]float64, count)
	for i := range visible {
		visible[i] = -1
	}
	filters := make([]*structpb.Struct, count)
	for i := range filters {
		filters[i] = idFilter(propID(runTag, i))
	}
	fmt.Println("PROP-READY")
	const window = 256
	next, seen := 0, 0
	deadline := time.Now().Add(timeout)
	for seen < count && time.Now().Before(deadline) {
		for i := next; i < min(next+window, count); i++ {
			if visible[i] >= 0 {
				continue
			}
			out, err := q.Query(ctx, &databrokerpb.QueryRequest{Type: sessionType, Filter: filters[i], Limit: 1})
			if err == nil && len(out.GetRecords()) > 0 {
				visible[i] = float64(time.Now().UnixNano()) / 1e6
				seen++
			}
		}
		for next < count && visible[next] >= 0 {
			next++
		}
		time.Sleep(50 * time.Microsecond)
	}
	return visible
}

// putRoundTripMs: sequential single-record Puts (then their deletes), the write path's latency.
// The same procedure as the TypeScript side's (bench/ts-cache-measure.ts): the first 200 Puts of
// the client are timed as the cold figure, 800 more are made untimed, and the next 200 are timed
// as the warm one (the figure the target compares).
func putRoundTripMs(ctx context.Context, client databrokerpb.DataBrokerServiceClient, runTag string) (cold, warm []float64) {
	r := rand.New(rand.NewPCG(3, 5))
	i := 0
	block := func(n int, timed bool) []float64 {
		var out []float64
		for end := i + n; i < end; i++ {
			id := "rtt-" + runTag + "-" + strconv.Itoa(i)
			data, _ := anypb.New(demoSession(id, r))
			t := time.Now()
			if _, err := client.Put(ctx, &databrokerpb.PutRequest{Records: []*databrokerpb.Record{{Type: sessionType, Id: id, Data: data}}}); err != nil {
				return nil
			}
			if timed {
				out = append(out, float64(time.Since(t).Microseconds())/1000)
			}
			_, _ = client.Put(ctx, &databrokerpb.PutRequest{Records: []*databrokerpb.Record{{Type: sessionType, Id: id, Data: data, DeletedAt: timestamppb.Now()}}})
		}
		slices.Sort(out)
		return out
	}
	cold = block(putColdCalls, true)
	block(putWarmUpCalls, false)
	warm = block(putWarmCalls, true)
	return cold, warm
}

// The Put round trip's blocks, as in bench/put-round-trip-plan.ts.
const (
	putColdCalls   = 200
	putWarmUpCalls = 800
	putWarmCalls   = 200
)

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

func pomeriumVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/pomerium/pomerium" {
			return d.Version
		}
	}
	return "unknown"
}
