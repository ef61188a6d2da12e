// Package envconfig loads a service's configuration struct from the
// environment once, at start-up, and refuses bad values with a message that
// names the variable.
package envconfig

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Validator is implemented by configuration structs that check themselves
// after parsing (ranges, combinations, files that must exist).
type Validator interface {
	Validate() error
}

// Load fills cfg (a pointer to a struct with `env` tags) from the
// environment and validates it. Every error names the variable at fault.
func Load(cfg any) error {
	return LoadFrom(cfg, nil)
}

// LoadFrom is Load with an explicit environment (nil means the process's).
func LoadFrom(cfg any, environ map[string]string) error {
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(cfg, opts); err != nil {
		return rename(cfg, err)
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
	}
	return nil
}

// rename rewrites caarlos0/env's parse errors, which name the Go field, so
// that they name the environment variable an operator actually sets.
func rename(cfg any, err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := envName(reflect.TypeOf(cfg), pe.Name)
			msgs = append(msgs, fmt.Sprintf("%s: invalid value: %v", name, pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("configuration: %s", strings.Join(msgs, "; "))
}

// envName finds the env tag of the struct field called field, searching
// nested structs; it falls back to the field name.
func envName(t reflect.Type, field string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return field
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == field {
			if tag, _, _ := strings.Cut(f.Tag.Get("env"), ","); tag != "" {
				return tag
			}
		}
		if f.Type.Kind() == reflect.Struct {
			if n := envName(f.Type, field); n != field {
				return f.Tag.Get("envPrefix") + n
			}
		}
	}
	return field
}
