package httpserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/httpserver"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "httpserver test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// server runs Run or RunTLS in the background and returns its address, a
// stop function and the channel of Run's result.
func server(t *testing.T, h http.Handler, grace time.Duration, cfg *tls.Config) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	ready := func(a net.Addr) { addr <- a.String() }
	go func() {
		if cfg == nil {
			done <- httpserver.Run(ctx, "127.0.0.1:0", h, grace, ready)
		} else {
			done <- httpserver.RunTLS(ctx, "127.0.0.1:0", h, grace, cfg, ready)
		}
	}()
	t.Cleanup(cancel)
	select {
	case a := <-addr:
		return a, cancel, done
	case err := <-done:
		t.Fatalf("server ended before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not report its address")
	}
	return "", nil, nil
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("server did not return after its context ended")
		return nil
	}
}

func TestRunAndRunTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	tests := []struct {
		name      string
		cfg       *tls.Config
		scheme    string
		client    *http.Client
		wrongWay  string // the other scheme, which must not get the handler's answer
		wrongWith *http.Client
	}{
		{"plain HTTP", nil, "http", http.DefaultClient, "https", tlsClient},
		{"HTTPS", &tls.Config{Certificates: []tls.Certificate{cert}}, "https", tlsClient, "http", http.DefaultClient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "hello over "+map[bool]string{true: "tls", false: "plain"}[r.TLS != nil])
			})
			addr, stop, done := server(t, h, 5*time.Second, tc.cfg)
			resp, err := tc.client.Get(tc.scheme + "://" + addr + "/")
			if err != nil {
				t.Fatalf("GET over %s: %v", tc.scheme, err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			want := "hello over plain"
			if tc.cfg != nil {
				want = "hello over tls"
			}
			if resp.StatusCode != http.StatusOK || string(body) != want {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
			}
			if resp, err := tc.wrongWith.Get(tc.wrongWay + "://" + addr + "/"); err == nil {
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if strings.HasPrefix(string(body), "hello") {
					t.Errorf("%s request to a %s server got the handler's answer %q", tc.wrongWay, tc.scheme, body)
				}
			}
			stop()
			if err := waitDone(t, done); err != nil {
				t.Errorf("Run after its context ended: %v, want nil", err)
			}
		})
	}
}

func TestGracefulShutdown(t *testing.T) {
	cert, pool := selfSigned(t)
	tests := []struct {
		name    string
		cfg     *tls.Config
		grace   time.Duration
		release bool // the in-flight request finishes within grace
		wantErr bool
	}{
		{"plain, in-flight request finishes", nil, 5 * time.Second, true, false},
		{"TLS, in-flight request finishes", &tls.Config{Certificates: []tls.Certificate{cert}}, 5 * time.Second, true, false},
		{"plain, grace exceeded", nil, 100 * time.Millisecond, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entered := make(chan struct{})
			release := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-release
				_, _ = io.WriteString(w, "done")
			})
			t.Cleanup(func() {
				select {
				case <-release:
				default:
					close(release)
				}
			})
			addr, stop, done := server(t, h, tc.grace, tc.cfg)
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			scheme := "http"
			if tc.cfg != nil {
				scheme = "https"
			}
			type result struct {
				body string
				err  error
			}
			got := make(chan result, 1)
			go func() {
				resp, err := client.Get(scheme + "://" + addr + "/")
				if err != nil {
					got <- result{err: err}
					return
				}
				b, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				got <- result{string(b), err}
			}()
			<-entered
			stop()
			if tc.release {
				// Shutdown has begun (new connections are refused) while
				// the request is still running.
				deadline := time.Now().Add(5 * time.Second)
				for time.Now().Before(deadline) {
					c, err := net.DialTimeout("tcp", addr, time.Second)
					if err != nil {
						break
					}
					_ = c.Close()
					time.Sleep(10 * time.Millisecond)
				}
				close(release)
			}
			err := waitDone(t, done)
			if (err != nil) != tc.wantErr {
				t.Errorf("Run returned %v, want error: %v", err, tc.wantErr)
			}
			if tc.release {
				r := <-got
				if r.err != nil || r.body != "done" {
					t.Errorf("in-flight request: %q, %v; want it answered during shutdown", r.body, r.err)
				}
			}
		})
	}
}

func TestRunTLSNeedsACertificate(t *testing.T) {
	tests := []struct {
		name string
		cfg  *tls.Config
	}{
		{"nil config", nil},
		{"no certificate", &tls.Config{MinVersion: tls.VersionTLS12}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := httpserver.RunTLS(context.Background(), "127.0.0.1:0", http.NotFoundHandler(), time.Second, tc.cfg, nil)
			if err == nil {
				t.Fatal("RunTLS without a certificate returned nil, want an error")
			}
		})
	}
}
