package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// nginxConf is what a team would deploy in front of user-service instead of
// the gateway: a keep-alive upstream, and a pre-minted internal token put
// on every request (the client's Cookie dropped). Access logging stays on,
// as in Debian's default configuration.
const nginxConf = `worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream users {
        server %[2]s;
        keepalive 128;
    }
    server {
        listen %[3]s;
        location / {
            proxy_pass http://users;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Cookie "";
            proxy_set_header Authorization "Bearer %[4]s";
        }
    }
}
`

// nginxProxy is one nginx master (and its workers) run by the benchmark.
type nginxProxy struct {
	cmd  *exec.Cmd
	addr string
	dir  string
}

// startNginx writes a configuration into a temporary directory and runs
// nginx in the foreground with it, waiting until it listens.
func startNginx(b *testing.B, bin, upstream, token string) *nginxProxy {
	b.Helper()
	dir, err := os.MkdirTemp("", "parley-bench-nginx-")
	if err != nil {
		b.Fatal(err)
	}
	// Workers run as nobody when the master is root: let them in.
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	addr := freePort(b)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, upstream, addr, token), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	out, _ := os.Create(filepath.Join(dir, "stdout.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatalf("start nginx: %v", err)
	}
	n := &nginxProxy{cmd: cmd, addr: addr, dir: dir}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return n
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			n.stop()
			b.Fatalf("nginx did not listen on %s: %v\n%s", addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop asks nginx to finish gracefully (SIGQUIT), kills it after 10 s,
// and removes its directory.
func (n *nginxProxy) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGQUIT)
	waitOrKill(n.cmd, 10*time.Second)
	_ = os.RemoveAll(n.dir)
}

func freePort(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitOrKill waits for cmd to exit, killing it after d.
func waitOrKill(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
	}
}
