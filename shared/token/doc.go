// Package token mints and verifies Parley's EdDSA (Ed25519) JWTs.
//
// Two kinds of token exist (the design's trust model). A session token is minted by
// auth-service at signup and login (iss=parley-auth, aud=parley-gateway) and
// only the gateway ever verifies it. An internal token is minted by the
// gateway for every forwarded request or Socket.IO link (iss=parley-gateway,
// aud=<service>, lifetime ≤ 60 s) and is the only credential a service
// accepts: services never trust identity headers, so a direct call without a
// gateway-signed token fails even from inside the network.
//
// Verification is deliberately narrow: the algorithm is pinned to EdDSA, exp,
// iss, aud and sub are required, the key is found only by the header's kid in
// a KeySet, and key-carrying headers (jwk, jku, x5u, x5c) are never read.
// Rotation is done by listing the old and the new public key in the KeySet
// until every token signed with the old key has expired.
//
// Keys are PEM files as made by
//
//	openssl genpkey -algorithm ed25519 -out private.pem
//	openssl pkey -in private.pem -pubout -out public.pem
package token

import "time"

// Issuers and audiences fixed by the trust model; a token is only accepted
// where its iss and aud say it is meant to go.
const (
	// IssuerAuth is the iss of session tokens minted by auth-service.
	IssuerAuth = "parley-auth"
	// IssuerGateway is the iss of internal tokens minted by the gateway.
	IssuerGateway = "parley-gateway"
	// AudienceGateway is the aud of session tokens: only the gateway reads them.
	AudienceGateway = "parley-gateway"
	// AudienceAuth is the aud of internal tokens for auth-service.
	AudienceAuth = "auth-service"
	// AudienceUsers is the aud of internal tokens for user-service.
	AudienceUsers = "user-service"
	// AudienceChat is the aud of internal tokens for chat-service.
	AudienceChat = "chat-service"
)

// Lifetimes and limits.
const (
	// SessionTTL is the design's session-token lifetime; the refresh token
	// keeps users signed in past it.
	SessionTTL = 15 * time.Minute
	// MaxInternalTTL bounds internal tokens so a leaked one is useless within
	// a minute; it is enforced both when signing and when verifying.
	MaxInternalTTL = 60 * time.Second
	// DefaultLeeway absorbs clock skew between hosts when checking exp, nbf
	// and iat.
	DefaultLeeway = 5 * time.Second
	// MaxTokenBytes bounds what Verify will parse, so an attacker cannot make
	// a service base64-decode and JSON-parse megabytes per request. Parley's
	// tokens are a few hundred bytes.
	MaxTokenBytes = 8 << 10
)
