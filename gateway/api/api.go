// Package api embeds the gateway's API documents: the OpenAPI document of
// the REST API, served at GET /api/v1/openapi.yaml, and the AsyncAPI
// document of the Socket.IO and RabbitMQ events, served at
// GET /api/v1/asyncapi.yaml.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 description of every public route.
//
//go:embed openapi.yaml
var OpenAPI []byte

// AsyncAPI is the AsyncAPI 3.0 description of the Socket.IO events between
// clients and the gateway and of the RabbitMQ events between services.
//
//go:embed asyncapi.yaml
var AsyncAPI []byte
