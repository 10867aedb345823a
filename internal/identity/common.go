package identity

import (
	_ "embed"
	"strings"
	"sync"
)

// commonPasswordList is the 10,000 most frequent passwords of zxcvbn's
// password frequency list, in its order (NOTICE gives the source and the
// licence). A password on it is refused
// whatever its length (N-20): it is among the first an attacker tries.
//
//go:embed data/common-passwords.txt
var commonPasswordList string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 10_000)
	for _, line := range strings.Split(commonPasswordList, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			set[strings.ToLower(line)] = struct{}{}
		}
	}
	return set
})

// CommonPassword reports whether pw is on the list of common passwords,
// ignoring case.
func CommonPassword(pw string) bool {
	_, ok := commonPasswords()[strings.ToLower(pw)]
	return ok
}
