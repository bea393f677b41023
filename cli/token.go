package cli

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/udftiles/udftiles/web"
)

const hashTokenUsage = `Usage: tileserver hash-token [--new] [--name NAME] [--admin]

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
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
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
	fmt.Fprintf(s.stdout, "auth:\n  bearer:\n    - name: %s\n      sha256: %s\n      admin: %v\n", *name, web.HashToken(token), *admin)
	return nil
}

var stdin io.Reader = os.Stdin
