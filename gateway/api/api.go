// Package api embeds the gateway's OpenAPI document, which the gateway
// serves at GET /api/v1/openapi.yaml.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 description of every public route.
//
//go:embed openapi.yaml
var OpenAPI []byte
