package password

import (
	"context"
	"testing"
)

// BenchmarkHashOWASP is the cost of one argon2id hash at the production
// parameters, the floor under every login and signup.
func BenchmarkHashOWASP(b *testing.B) {
	h, err := NewHasher(OWASP, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
