package httpapi

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
)

// wholeNumber reads a JSON number with an integral value into an int64:
// 12, 12.0 and 1.2e1 alike, as JSON Schema (and so the OpenAPI document's
// "integer") counts them. Strings, fractions and values beyond int64 are
// refused.
func wholeNumber(raw json.RawMessage) (int64, bool) {
	var n json.Number
	// json.Number would also take a quoted "12": only a bare number will do.
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	if v, err := n.Int64(); err == nil {
		return v, true
	}
	s := string(n)
	// A huge exponent would make the exact value below enormous to compute;
	// no int64 needs more than 19 digits of shift.
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || exp > 40 || exp < -40 {
			return 0, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}
