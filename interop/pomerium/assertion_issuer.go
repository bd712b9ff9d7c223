package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pomerium/pomerium/config"
	databrokerpb "github.com/pomerium/pomerium/pkg/grpc/databroker"
	"github.com/pomerium/pomerium/pkg/grpc/session"
	"github.com/pomerium/pomerium/pkg/grpc/user"
	"github.com/pomerium/pomerium/pkg/grpcutil"
)

// Record types the authorize service reads to build an assertion. The directory ones are
// Pomerium's directory sync records (protobuf Structs), named here to avoid linking the
// datasource module for two strings.
const (
	sessionRecordType        = "type.googleapis.com/session.Session"
	userRecordType           = "type.googleapis.com/user.User"
	serviceAccountRecordType = "type.googleapis.com/user.ServiceAccount"
	directoryUserRecordType  = "pomerium.io/DirectoryUser"
	directoryGroupRecordType = "pomerium.io/DirectoryGroup"

	// Pomerium signs every assertion for five minutes from the evaluation time.
	assertionLifetime = 5 * time.Minute
)

// assertionIssuer stands in for Pomerium's authorize service on the one output apps see: the
// X-Pomerium-Jwt-Assertion header. Authorize's headers evaluator (with OPA) is too heavy to
// link into this peer, so this file derives the same claims from the same records, read from
// this peer's own databroker over gRPC the way authorize's store reads them, and signs them
// with the key Pomerium's own cryptutil loads, through go-jose as Pomerium does.
type assertionIssuer struct {
	keys *signingKeys
	conn *grpc.ClientConn
	db   databrokerpb.DataBrokerServiceClient
}

func newAssertionIssuer(databrokerAddr string, sharedKey []byte) (*assertionIssuer, error) {
	keys, err := signingKeysFromFlags()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(databrokerAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(grpcutil.WithUnarySignedJWT(func() []byte { return sharedKey })),
	)
	if err != nil {
		return nil, fmt.Errorf("assertion issuer: %w", err)
	}
	return &assertionIssuer{keys: keys, conn: conn, db: databrokerpb.NewDataBrokerServiceClient(conn)}, nil
}

func (a *assertionIssuer) close() { _ = a.conn.Close() }

// register adds the issuer's routes to the admin mux:
//
//	POST /assertion                          {"session_id", "host", "issuer_format"?} -> {"assertion", "kid"}
//	GET  /.well-known/pomerium/jwks.json     the public keys, as Pomerium serves them
//	POST /rotate-signing-key[?retain=N]      new signing key; N previous keys stay published (default 1)
func (a *assertionIssuer) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /assertion", a.serveAssertion)
	mux.HandleFunc("GET /.well-known/pomerium/jwks.json", a.keys.serveJWKS)
	mux.HandleFunc("POST /rotate-signing-key", a.keys.serveRotate)
}

type assertionRequest struct {
	// SessionID is the session (or service account) id the request carried.
	SessionID string `json:"session_id"`
	// Host is the route's host name: aud, and iss unless IssuerFormat is "uri".
	Host string `json:"host"`
	// IssuerFormat is Pomerium's jwt_issuer_format: "" or "hostOnly" (iss = host) or "uri" (https://host/).
	IssuerFormat string `json:"issuer_format"`
}

var errNoLiveSession = errors.New("no live session or service account with this id")

func (a *assertionIssuer) serveAssertion(w http.ResponseWriter, r *http.Request) {
	var req assertionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64*1024)).Decode(&req); err != nil {
		http.Error(w, "body must be JSON {session_id, host, issuer_format?}", http.StatusBadRequest)
		return
	}
	if req.SessionID == "" || req.Host == "" {
		http.Error(w, "session_id and host are required", http.StatusBadRequest)
		return
	}
	switch config.JWTIssuerFormat(req.IssuerFormat) {
	case config.JWTIssuerFormatUnset, config.JWTIssuerFormatHostOnly, config.JWTIssuerFormatURI:
	default:
		http.Error(w, "issuer_format must be hostOnly or uri", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	token, kid, err := a.issue(ctx, req, time.Now())
	switch {
	case errors.Is(err, errNoLiveSession):
		// Authorize forwards no request without a live session (it sends the user to sign in),
		// so no app ever receives an assertion for one.
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, fmt.Sprintf("assertion: %v", err), http.StatusInternalServerError)
	default:
		writeJSON(w, map[string]string{"assertion": token, "kid": kid})
	}
}

// issue builds the claims from the stored records and signs them with the current key.
func (a *assertionIssuer) issue(ctx context.Context, req assertionRequest, now time.Time) (token, kid string, err error) {
	claims, err := a.claims(ctx, req, now)
	if err != nil {
		return "", "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	key := a.keys.current()
	alg := jose.SignatureAlgorithm(key.Algorithm)
	// The protected header Pomerium writes: typ JWT, kid, alg; the raw private key as the signer.
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KeyID).WithHeader("alg", key.Algorithm)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key.Key}, opts)
	if err != nil {
		return "", "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", "", err
	}
	token, err = jws.CompactSerialize()
	return token, key.KeyID, err
}

// claims derives the base claims of the headers evaluator:
//
//   - the principal: a service account with the request's id if there is one, else the session
//     (followed to the session it impersonates, if any); none live means no assertion;
//   - sub and user: the principal's user id; sid: the id the request carried;
//   - email: the directory user's "email", else the user record's email;
//   - groups: the directory user's "group_ids" followed by those groups' names, else the
//     session's "groups" claim, and [] rather than null when there are none;
//   - name: the session's "name" claim, else the user's, values joined with ",";
//   - iss: the host (or https://host/), aud: the host, jti: a random UUID,
//     iat: now, exp: now + 5 minutes.
func (a *assertionIssuer) claims(ctx context.Context, req assertionRequest, now time.Time) (map[string]any, error) {
	var sess *session.Session
	account, err := lookup[*user.ServiceAccount](ctx, a.db, serviceAccountRecordType, req.SessionID)
	if err != nil {
		return nil, err
	}
	if account == nil {
		if sess, err = lookup[*session.Session](ctx, a.db, sessionRecordType, req.SessionID); err != nil {
			return nil, err
		}
		if other := sess.GetImpersonateSessionId(); other != "" {
			if sess, err = lookup[*session.Session](ctx, a.db, sessionRecordType, other); err != nil {
				return nil, err
			}
		}
	}
	if account == nil && sess == nil {
		return nil, errNoLiveSession
	}
	userID := sess.GetUserId()
	if account != nil {
		userID = account.GetUserId()
	}

	var u *user.User
	var dirUser *structpb.Struct
	if userID != "" {
		if u, err = lookup[*user.User](ctx, a.db, userRecordType, userID); err != nil {
			return nil, err
		}
		if dirUser, err = lookup[*structpb.Struct](ctx, a.db, directoryUserRecordType, userID); err != nil {
			return nil, err
		}
	}

	email := u.GetEmail()
	if v, ok := dirUser.GetFields()["email"]; ok {
		email = fmt.Sprint(v.AsInterface())
	}

	groups := []string{}
	if ids := stringList(dirUser.GetFields()["group_ids"]); len(ids) > 0 {
		groups = append(groups, ids...)
		for _, id := range ids {
			g, err := lookup[*structpb.Struct](ctx, a.db, directoryGroupRecordType, id)
			if err != nil {
				return nil, err
			}
			if v, ok := g.GetFields()["name"]; ok {
				groups = append(groups, fmt.Sprint(v.AsInterface()))
			}
		}
	} else if vs, ok := claimStrings(sess.GetClaims(), "groups"); ok {
		groups = append(groups, vs...)
	}

	name := ""
	if vs, ok := claimStrings(sess.GetClaims(), "name"); ok {
		name = strings.Join(vs, ",")
	} else if vs, ok := claimStrings(u.GetClaims(), "name"); ok {
		name = strings.Join(vs, ",")
	}

	iss := req.Host
	if config.JWTIssuerFormat(req.IssuerFormat) == config.JWTIssuerFormatURI {
		iss = "https://" + req.Host + "/"
	}
	return map[string]any{
		"iss":    iss,
		"aud":    req.Host,
		"jti":    uuid.NewString(),
		"iat":    now.Unix(),
		"exp":    now.Add(assertionLifetime).Unix(),
		"sub":    userID,
		"user":   userID,
		"email":  email,
		"groups": groups,
		"sid":    req.SessionID,
		"name":   name,
	}, nil
}

// lookup reads one record as authorize's store does: Query with a filter on id or index,
// limit 1, and a record whose expires_at has passed counts as absent. A missing record is
// (nil, nil); only transport or decoding failures are errors.
func lookup[T proto.Message](ctx context.Context, db databrokerpb.DataBrokerServiceClient, recordType, idOrIndex string) (T, error) {
	var none T
	req := &databrokerpb.QueryRequest{Type: recordType, Limit: 1}
	req.SetFilterByIDOrIndex(idOrIndex)
	res, err := db.Query(ctx, req, grpc.WaitForReady(true))
	if err != nil {
		return none, fmt.Errorf("query %s: %w", recordType, err)
	}
	if len(res.GetRecords()) == 0 {
		return none, nil
	}
	msg, err := res.GetRecords()[0].GetData().UnmarshalNew()
	if err != nil {
		return none, fmt.Errorf("decode %s: %w", recordType, err)
	}
	if e, ok := msg.(interface{ GetExpiresAt() *timestamppb.Timestamp }); ok && e.GetExpiresAt() != nil && e.GetExpiresAt().AsTime().Before(time.Now()) {
		return none, nil
	}
	typed, ok := msg.(T)
	if !ok {
		return none, fmt.Errorf("%s record holds %s", recordType, msg.ProtoReflect().Descriptor().FullName())
	}
	return typed, nil
}

// claimStrings renders a claims entry (a list of values) as strings: numbers, strings and
// booleans by their text, other kinds skipped. ok is whether the claim exists at all.
func claimStrings(claims map[string]*structpb.ListValue, name string) ([]string, bool) {
	list, ok := claims[name]
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(list.GetValues()))
	for _, v := range list.GetValues() {
		switch k := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			out = append(out, k.StringValue)
		case *structpb.Value_NumberValue:
			out = append(out, fmt.Sprint(k.NumberValue))
		case *structpb.Value_BoolValue:
			out = append(out, fmt.Sprint(k.BoolValue))
		}
	}
	return out, true
}

// stringList is a Struct field holding a list of strings, or nil if it is anything else.
func stringList(v *structpb.Value) []string {
	list := v.GetListValue()
	if list == nil {
		return nil
	}
	out := make([]string, 0, len(list.GetValues()))
	for _, item := range list.GetValues() {
		s, ok := item.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil
		}
		out = append(out, s.StringValue)
	}
	return out
}
