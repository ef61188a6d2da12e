package envconfig

import (
	"fmt"

	"github.com/caarlos0/env/v11"
)

// LoadWith is Load reading each variable through getenv (os.Getenv in main,
// a map lookup in tests), so every service's config.Load has the same
// signature and tests never touch the process environment. A variable
// getenv answers "" for counts as unset.
func LoadWith(cfg any, getenv func(string) string) error {
	params, err := env.GetFieldParams(cfg)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	environ := make(map[string]string, len(params))
	for _, p := range params {
		if v := getenv(p.Key); v != "" {
			environ[p.Key] = v
		}
	}
	return LoadFrom(cfg, environ)
}
