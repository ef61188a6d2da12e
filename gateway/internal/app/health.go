package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/logging"
)

// errNotLoaded: until the revocation snapshot is applied no session can be
// trusted, so this instance cannot serve users.
var errNotLoaded = errors.New("revocation snapshot not loaded yet")

// health returns the public readiness and the ops one. A load balancer
// reads the public /readyz to decide whether to send traffic here, so it
// depends only on what this process needs to serve (its revocation list);
// a backend that is down is every instance's problem, and taking all of
// them out of rotation for it would turn a partial outage into a full one.
// The ops /readyz lists every dependency with its error, for operators.
func (a *App) health(client *http.Client, shipper *logging.Shipper) (public, ops *httpserver.Health) {
	self := map[string]httpserver.Check{
		"revocations": func(context.Context) error {
			if !a.store.Loaded() {
				return errNotLoaded
			}
			return nil
		},
	}
	all := map[string]httpserver.Check{
		"rabbitmq":  a.amqp.Check,
		"chat-link": a.link.Check,
	}
	for name, urls := range map[string][]string{
		"auth-service": a.cfg.AuthURLs(), "user-service": a.cfg.UsersURLs(), "chat-service": a.cfg.ChatURLs(),
	} {
		for _, u := range urls {
			key := name
			if len(urls) > 1 {
				key = name + " " + u // one entry per instance
			}
			all[key] = readyz(client, u)
		}
	}
	for name, check := range self {
		all[name] = check
	}
	public = &httpserver.Health{Service: Service, Version: a.version, Checks: self}
	ops = &httpserver.Health{Service: Service, Version: a.version, Shipper: shipper, Checks: all}
	return public, ops
}

// readyz checks a service's readiness endpoint.
func readyz(client *http.Client, base string) httpserver.Check {
	url := strings.TrimRight(base, "/") + "/readyz"
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz answered %s", resp.Status)
		}
		return nil
	}
}
