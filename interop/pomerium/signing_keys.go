package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/pomerium/pomerium/config"
	"github.com/pomerium/pomerium/pkg/cryptutil"
)

// Flags of the signing key, registered here so main.go needs no change for them. The value has
// the form of Pomerium's signing_key option: base64 of one or more PEM private keys (or the PEM
// itself). As in Pomerium, the first key signs and every key is published in the JWKS, which is
// how an operator rotates: put the new key first, keep the old one listed, later drop it.
var (
	signingKeyFlag     = flag.String("signing-key", "", "identity assertion signing key(s) in the form of Pomerium's signing_key (base64 of PEM); prefer -signing-key-file or env SIGNING_KEY; a P-256 key is generated when none is given")
	signingKeyFileFlag = flag.String("signing-key-file", "", "file holding the signing key(s), like Pomerium's signing_key_file")
)

// signingKeysFromFlags reads the key material through Pomerium's own option decoding
// (config.Options.GetSigningKey: file first, trimmed, base64-decoded when it is base64).
func signingKeysFromFlags() (*signingKeys, error) {
	opts := &config.Options{SigningKey: *signingKeyFlag, SigningKeyFile: *signingKeyFileFlag}
	if opts.SigningKey == "" {
		opts.SigningKey = os.Getenv("SIGNING_KEY")
	}
	material, err := opts.GetSigningKey()
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	keys := &signingKeys{}
	if len(material) == 0 {
		// Pomerium's authorize service generates a key when none is configured; so do we, but we
		// also publish it (Pomerium's JWKS would then be empty, and nothing could verify).
		material, err = newSigningKeyPEM()
		if err != nil {
			return nil, err
		}
	}
	if err := keys.set(material); err != nil {
		return nil, err
	}
	return keys, nil
}

// signingKeys holds the current signing_key value and what Pomerium derives from it: the
// private JWK that signs (cryptutil.PrivateJWKFromBytes: the first PEM block, kid = hex of
// its SHA-256 thumbprint, alg ES256 or RS256 by key type) and the public JWKS
// (cryptutil.PublicJWKsFromBytes: every block).
type signingKeys struct {
	mu     sync.RWMutex
	blocks [][]byte // the PEM blocks of the current value, in order
	signer *jose.JSONWebKey
	jwks   []byte // {"keys":[...]} as served
	etag   string
}

func (k *signingKeys) set(material []byte) error {
	blocks := splitPEMBlocks(material)
	if len(blocks) == 0 {
		return errors.New("signing key: no PEM block found")
	}
	joined := bytes.Join(blocks, nil)
	signer, err := cryptutil.PrivateJWKFromBytes(joined)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	public, err := cryptutil.PublicJWKsFromBytes(joined)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	// The JWKS document as Pomerium's handler builds it: the public keys under "keys", an
	// FNV-64 hash of the body as ETag.
	doc := struct {
		Keys []jose.JSONWebKey `json:"keys"`
	}{}
	for _, p := range public {
		doc.Keys = append(doc.Keys, *p)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	h := fnv.New64()
	_, _ = h.Write(body)

	k.mu.Lock()
	defer k.mu.Unlock()
	k.blocks, k.signer, k.jwks, k.etag = blocks, signer, body, fmt.Sprintf(`"%x"`, h.Sum64())
	return nil
}

// current returns the signing JWK (never modified after set, safe to share).
func (k *signingKeys) current() *jose.JSONWebKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.signer
}

// rotate makes a new P-256 key the signing key and keeps the first `retain` previous keys
// published (0: the old keys disappear from the JWKS at once).
func (k *signingKeys) rotate(retain int) error {
	fresh, err := newSigningKeyPEM()
	if err != nil {
		return err
	}
	k.mu.RLock()
	previous := k.blocks[:min(retain, len(k.blocks))]
	material := bytes.Join(append([][]byte{fresh}, previous...), nil)
	k.mu.RUnlock()
	return k.set(material)
}

// keyIDs lists the published kids, signing key first.
func (k *signingKeys) keyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var doc struct {
		Keys []struct {
			KeyID string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.Unmarshal(k.jwks, &doc)
	ids := make([]string, 0, len(doc.Keys))
	for _, key := range doc.Keys {
		ids = append(ids, key.KeyID)
	}
	return ids
}

// serveJWKS answers GET /.well-known/pomerium/jwks.json with the headers Pomerium sets there:
// Cache-Control max-age=60, JSON, ETag (If-None-Match answered 304 by http.ServeContent), and
// CORS open to any origin.
func (k *signingKeys) serveJWKS(w http.ResponseWriter, r *http.Request) {
	k.mu.RLock()
	body, etag := k.jwks, k.etag
	k.mu.RUnlock()
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "max-age=60")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("ETag", etag)
	http.ServeContent(w, r, "jwks.json", time.Time{}, bytes.NewReader(body))
}

// serveRotate answers POST /rotate-signing-key[?retain=N] (default 1: the previous key stays
// published, as in a careful rotation) with {"kid": new signing kid, "published": [kids]}.
func (k *signingKeys) serveRotate(w http.ResponseWriter, r *http.Request) {
	retain := 1
	if v := r.URL.Query().Get("retain"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, "retain must be a non-negative integer", http.StatusBadRequest)
			return
		}
		retain = n
	}
	if err := k.rotate(retain); err != nil {
		http.Error(w, fmt.Sprintf("rotate: %v", err), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"kid": k.current().KeyID, "published": k.keyIDs()})
}

// newSigningKeyPEM makes a key the way Pomerium does when none is configured
// (cryptutil.NewSigningKey: P-256; cryptutil.EncodePrivateKey: an "EC PRIVATE KEY" PEM block).
func newSigningKeyPEM() ([]byte, error) {
	key, err := cryptutil.NewSigningKey()
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return cryptutil.EncodePrivateKey(key)
}

// splitPEMBlocks returns each PEM block of data, re-encoded on its own (text around them dropped).
func splitPEMBlocks(data []byte) [][]byte {
	var blocks [][]byte
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return blocks
		}
		blocks = append(blocks, pem.EncodeToMemory(block))
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
