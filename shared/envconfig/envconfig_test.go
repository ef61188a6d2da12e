package envconfig

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Addr    string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	Timeout time.Duration `env:"REQUEST_TIMEOUT" envDefault:"5s"`
	Workers int           `env:"WORKERS" envDefault:"4"`
	DB      string        `env:"DATABASE_URL,required"`
}

func (s *sample) Validate() error {
	if s.Workers < 1 {
		return errors.New("WORKERS: must be at least 1")
	}
	return nil
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // substring; "" means success
	}{
		{"defaults", map[string]string{"DATABASE_URL": "postgres://x"}, ""},
		{"missing required", map[string]string{}, "DATABASE_URL"},
		{"bad duration", map[string]string{"DATABASE_URL": "x", "REQUEST_TIMEOUT": "soon"}, "REQUEST_TIMEOUT"},
		{"bad int", map[string]string{"DATABASE_URL": "x", "WORKERS": "many"}, "WORKERS"},
		{"fails validation", map[string]string{"DATABASE_URL": "x", "WORKERS": "0"}, "WORKERS: must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg sample
			err := LoadFrom(&cfg, tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadFrom() error = %v, want nil", err)
				}
				if cfg.Addr != "127.0.0.1:8080" || cfg.Timeout != 5*time.Second {
					t.Fatalf("defaults not applied: %+v", cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadFrom() error = %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}
