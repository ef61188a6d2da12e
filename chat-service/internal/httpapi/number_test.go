package httpapi

import (
	"encoding/json"
	"testing"
)

func TestWholeNumber(t *testing.T) {
	cases := []struct {
		raw  string
		want int64
		ok   bool
	}{
		{"12", 12, true},
		{"0", 0, true},
		{"-3", -3, true},
		{"2284.0", 2284, true},
		{"1.2e1", 12, true},
		{"120E-1", 12, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"9223372036854775808", 0, false},
		{"9.3e18", 0, false},
		{"1.5", 0, false},
		{"1e-3", 0, false},
		{"1e999999999", 0, false},
		{`"12"`, 0, false},
		{"true", 0, false},
		{"[1]", 0, false},
		{"{}", 0, false},
	}
	for _, tc := range cases {
		got, ok := wholeNumber(json.RawMessage(tc.raw))
		if got != tc.want || ok != tc.ok {
			t.Errorf("wholeNumber(%s) = %d, %v; want %d, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}
