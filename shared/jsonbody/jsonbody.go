// Package jsonbody decodes request bodies strictly: one JSON value, no unknown
// fields, a size cap, and every failure turned into a problem with a field
// error a client developer can act on.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/parleychat/parley/shared/input"
	"github.com/parleychat/parley/shared/problem"
)

// DefaultLimit caps request bodies when the caller gives no limit.
const DefaultLimit = 64 << 10

// Decode reads r's body into dst. limit <= 0 means DefaultLimit. It returns a
// *problem.Problem: 415 for a non-JSON content type, 413 past the limit, 400
// with field errors for malformed JSON, unknown fields, wrong types, invalid
// UTF-8 or a NUL in any string (see package input), so no handler ever sees
// text that PostgreSQL would refuse.
func Decode(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return problem.ErrUnsupportedType
		}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return problem.ErrTooLarge
		}
		return problem.Validation(problem.FieldError{Field: "", Message: "body could not be read"})
	}
	return Unmarshal(raw, dst)
}

// Unmarshal decodes raw as Decode does its body: one JSON value, no unknown
// fields, valid UTF-8, no NUL in any string. The error is a *problem.Problem.
func Unmarshal(raw []byte, dst any) error {
	if !utf8.Valid(raw) {
		// encoding/json would silently turn invalid bytes into U+FFFD; a
		// client that sent them deserves to know instead.
		return problem.Validation(problem.FieldError{Field: "", Message: "body must be valid UTF-8"})
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return translate(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return problem.Validation(problem.FieldError{Field: "", Message: "body must hold a single JSON object"})
	}
	if fields := input.Strings(dst); len(fields) > 0 {
		return problem.Validation(fields...)
	}
	return nil
}

func translate(err error) error {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return problem.ErrTooLarge
	case errors.Is(err, io.EOF):
		return problem.Validation(problem.FieldError{Field: "", Message: "body is empty; send a JSON object"})
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return problem.Validation(problem.FieldError{Field: "", Message: "body is not valid JSON"})
	case errors.As(err, &typeErr):
		field := typeErr.Field
		return problem.Validation(problem.FieldError{Field: field, Message: fmt.Sprintf("must be %s", kind(typeErr.Type.Kind().String()))})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return problem.Validation(problem.FieldError{Field: name, Message: "unknown field"})
	default:
		return problem.Validation(problem.FieldError{Field: "", Message: "body could not be decoded"})
	}
}

func kind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "a value of another type"
	default:
		return "a number"
	}
}
