package cli

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/udftiles/udftiles/config"
	"github.com/udftiles/udftiles/web"
)

const hashTokenUsage = `Usage: tileserver hash-token [--new] [--name NAME] [--admin | --role admin|editor|reader]

Prints the SHA-256 of a bearer token as auth.bearer stores it. The token is
read from standard input (one line), or made with --new (32 random bytes) and
printed once: keep it, the config holds only its hash.

`

// hashToken serves `tileserver hash-token`.
func hashToken(args []string, s *settings, stdin io.Reader) error {
	fs := flag.NewFlagSet("hash-token", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	fs.Usage = func() { fmt.Fprint(s.stderr, hashTokenUsage); fs.PrintDefaults() }
	fresh := fs.Bool("new", false, "make a new random token")
	name := fs.String("name", "client", "the token's name in the printed config entry")
	admin := fs.Bool("admin", false, "mark the printed config entry admin")
	role := fs.String("role", "", "the printed entry's role: admin, editor (saves and shares UDFs) or reader")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	if *role != "" && !slices.Contains(config.Roles, *role) {
		return fmt.Errorf("hash-token: --role: want one of %s, got %q", strings.Join(config.Roles, ", "), *role)
	}
	if *admin && *role != "" && *role != "admin" {
		return fmt.Errorf("hash-token: --admin and --role %s disagree; give --role alone", *role)
	}
	var token string
	if *fresh {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		token = base64.RawURLEncoding.EncodeToString(b[:])
		fmt.Fprintf(s.stdout, "token: %s\n", token)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("hash-token: reading the token: %v", err)
		}
		token = strings.TrimRight(line, "\r\n")
		if token == "" {
			return fmt.Errorf("hash-token: no token on standard input (or use --new)")
		}
	}
	if *role != "" {
		fmt.Fprintf(s.stdout, "auth:\n  bearer:\n    - name: %s\n      sha256: %s\n      role: %s\n", *name, web.HashToken(token), *role)
		return nil
	}
	fmt.Fprintf(s.stdout, "auth:\n  bearer:\n    - name: %s\n      sha256: %s\n      admin: %v\n", *name, web.HashToken(token), *admin)
	return nil
}

var stdin io.Reader = os.Stdin
