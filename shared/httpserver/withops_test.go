package httpserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRunWithOpsServesBothAndStopsTogether(t *testing.T) {
	public := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("public")) })
	ops := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ops")) })
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- RunWithOps(ctx, "127.0.0.1:0", public, "127.0.0.1:0", ops, time.Second, func(p, o net.Addr) { addrs <- [2]net.Addr{p, o} })
	}()
	var a [2]net.Addr
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("RunWithOps returned %v before listening", err)
	}
	for i, want := range []string{"public", "ops"} {
		resp, err := http.Get("http://" + a[i].String() + "/")
		if err != nil {
			t.Fatalf("GET %s listener: %v", want, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("%s listener answered %q, want %q", want, body, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunWithOps after cancel = %v, want nil", err)
	}
}

func TestRunWithOpsFailsWhenTheOpsAddressIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	called := false
	err = RunWithOps(context.Background(), "127.0.0.1:0", http.NotFoundHandler(), taken.Addr().String(), http.NotFoundHandler(), time.Second,
		func(net.Addr, net.Addr) { called = true })
	if err == nil || !strings.Contains(err.Error(), "ops address") {
		t.Errorf("RunWithOps = %v, want an ops address error", err)
	}
	if called {
		t.Error("ready was called although the ops address never listened")
	}
}
