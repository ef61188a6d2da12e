package envconfig

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// CheckOpsAddr refuses an OPS_ADDR that is not a host:port listen address
// ("" and "off" included: every instance has an ops address) or that is
// the public HTTP_ADDR (port 0 excepted, which tests use for both).
func CheckOpsAddr(ops, public string) error {
	if _, port, err := net.SplitHostPort(ops); err != nil || port == "" {
		return fmt.Errorf("OPS_ADDR: want host:port, got %q", ops)
	}
	if ops == public && !strings.HasSuffix(ops, ":0") {
		return errors.New("OPS_ADDR must differ from HTTP_ADDR: the ops address is internal")
	}
	return nil
}
