// Command query-parity prints what Pomerium's own storage.GetIndexableFields and storage.MatchAny
// answer for a fixed set of records: the golden that test/query/pomerium-parity.test.ts holds our
// TypeScript ports (src/query/indexable-fields.ts, src/query/free-text-query.ts) to. It builds the
// same records as that test's runScenario() and prints one line per check, in the same order and
// format. A check on which Pomerium panics prints "panic".
//
// Regenerate the golden (from the repository root):
//
//	(cd bench/go-syncquerier && go run ./query-parity) > test/query/pomerium-parity.golden.txt
//
// It lives in the go-syncquerier module to share its Pomerium version and dependency set (see the
// go.mod there), and reads no input.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionpb "github.com/pomerium/pomerium/pkg/grpc/session"
	userpb "github.com/pomerium/pomerium/pkg/grpc/user"
	"github.com/pomerium/pomerium/pkg/storage"
)

func main() {
	fmt.Println("# What Pomerium's storage.GetIndexableFields and storage.MatchAny answer (bench/go-syncquerier/query-parity).")
	fmt.Println("# Regenerate: (cd bench/go-syncquerier && go run ./query-parity) > test/query/pomerium-parity.golden.txt")
	for _, line := range scenario() {
		fmt.Println(line)
	}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "query-parity:", err)
		os.Exit(1)
	}
	return a
}

func mustStruct(v map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, "query-parity:", err)
		os.Exit(1)
	}
	return s
}

func scenario() []string {
	var out []string
	show := func(label string, a *anypb.Any, fields []string) {
		m, err := storage.GetIndexableFields(a, fields)
		if err != nil {
			out = append(out, label+" => not indexed")
			return
		}
		parts := make([]string, 0, len(fields))
		for _, f := range fields {
			v, ok := m[f]
			if !ok {
				v = "?"
			}
			parts = append(parts, f+"="+v)
		}
		sort.Strings(parts)
		out = append(out, label+" => "+strings.Join(parts, ","))
	}
	match := func(label string, a *anypb.Any, q string) {
		quoted, _ := json.Marshal(q)
		out = append(out, fmt.Sprintf("match %s %s => %s", label, quoted, matchAny(a, q)))
	}

	sess := mustAny(&sessionpb.Session{
		Id:                   "s",
		UserId:               "U1",
		IdToken:              &sessionpb.IDToken{Issuer: "Iss"},
		ExpiresAt:            timestamppb.New(time.Unix(1_700_000_000, 0)),
		ImpersonateSessionId: proto.String(""),
	})
	claims, err := structpb.NewList([]any{"Admins", 5})
	if err != nil {
		fmt.Fprintln(os.Stderr, "query-parity:", err)
		os.Exit(1)
	}
	sessClaims := mustAny(&sessionpb.Session{
		Id:       "s",
		UserId:   "U1",
		IdToken:  &sessionpb.IDToken{Issuer: "Iss"},
		Audience: []string{"aud"},
		Claims:   map[string]*structpb.ListValue{"grp": claims},
	})
	req := mustAny(&sessionpb.SessionBindingRequest{Key: "k", State: sessionpb.SessionBindingRequestState_Accepted, Details: map[string]string{"a": "b"}})
	req0 := mustAny(&sessionpb.SessionBindingRequest{Key: "k"})
	sta := mustAny(mustStruct(map[string]any{"x": "y", "n": 5, "nested": map[string]any{"deep": []any{"Needle"}}}))
	sta2 := mustAny(mustStruct(map[string]any{"x": "y"}))
	usr := mustAny(&userpb.User{Id: "u", Name: "Ada"})
	usrDc := mustAny(&userpb.User{Id: "u", Name: "Ada", DeviceCredentialIds: []string{"dc1"}})

	show("sess id", sess, []string{"id", "user_id"})
	show("sess idtoken.issuer", sess, []string{"id_token.issuer", "id_token.subject", "oauth_token.access_token"})
	show("sess idtoken", sess, []string{"id", "id_token"})
	show("sess impersonate", sess, []string{"impersonate_session_id"})
	show("sess expires_at.seconds", sess, []string{"expires_at.seconds"})
	show("sess user_id.x", sess, []string{"user_id.x"})
	show("req key+state", req, []string{"key", "state"})
	show("req0 key+state", req0, []string{"key", "state"})
	show("req details", req, []string{"details.a", "details.b", "details"})
	show("struct x only", sta2, []string{"x", "fields.x.string_value", "fields.x.kind"})
	show("user", usr, []string{"name", "email"})
	for _, q := range []string{"u1", "iss", "aud", "admins", "5", "grp", "s"} {
		match("sess", sessClaims, q)
	}
	for _, q := range []string{"needle", "y", "x", "5"} {
		match("struct", sta, q)
	}
	match("req", req, "b")
	match("req0", req0, "k")
	match("user", usrDc, "dc1")
	return out
}

// matchAny is storage.MatchAny's answer, or "panic" where it panics (it does on a map<string,string> value).
func matchAny(a *anypb.Any, q string) (answer string) {
	defer func() {
		if recover() != nil {
			answer = "panic"
		}
	}()
	return fmt.Sprint(storage.MatchAny(a, q))
}
