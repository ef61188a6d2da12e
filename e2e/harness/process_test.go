package harness

import (
	"os/exec"
	"strings"
	"testing"
)

// Ports are drawn at random; without the reservation, 2,000 draws from the
// 12,768 in the range repeat one almost surely (the birthday bound).
func TestFreeAddrNeverRepeatsWhileReserved(t *testing.T) {
	seen := make(map[string]bool)
	for range 2000 {
		addr := FreeAddr(t)
		if seen[addr] {
			t.Fatalf("FreeAddr handed out %s twice", addr)
		}
		seen[addr] = true
	}
}

// A reservation holds across processes: a test binary running beside this
// one cannot take a port this one holds.
func TestFreeAddrReservationHoldsAcrossProcesses(t *testing.T) {
	addr := FreeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	// flock(1) in another process must find the port's file locked.
	cmd := exec.Command("flock", "--nonblock", "--conflict-exit-code", "7", reservationFile(port), "true")
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("another process took the reservation of %s: %v", addr, err)
	}
}
