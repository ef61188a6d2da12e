package envconfig

import "testing"

func TestCheckOpsAddr(t *testing.T) {
	tests := []struct {
		ops, public string
		ok          bool
	}{
		{"127.0.0.1:9081", "127.0.0.1:8081", true},
		{"127.0.0.1:0", "127.0.0.1:0", true},
		{":9081", ":8081", true},
		{"", "127.0.0.1:8081", false},
		{"off", "127.0.0.1:8081", false},
		{"127.0.0.1", "127.0.0.1:8081", false},
		{"127.0.0.1:", "127.0.0.1:8081", false},
		{"127.0.0.1:8081", "127.0.0.1:8081", false},
	}
	for _, tc := range tests {
		if err := CheckOpsAddr(tc.ops, tc.public); (err == nil) != tc.ok {
			t.Errorf("CheckOpsAddr(%q, %q) = %v, want ok=%v", tc.ops, tc.public, err, tc.ok)
		}
	}
}
