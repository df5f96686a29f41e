// Package cli runs a kong command tree for keyless's two binaries without kong ever
// calling os.Exit, so that each main maps results to exit statuses itself and tests can
// run a command in-process.
package cli

import (
	"fmt"
	"io"

	"github.com/alecthomas/kong"
)

// kongExit carries the exit status kong asks for (after --help, or a usage error)
// through a panic that Run recovers.
type kongExit int

// Run parses args into model and runs the chosen command, whose Run methods may take
// any of binds. When kong ended the run itself (--help, a usage or parse error, which
// it has already reported on errw), Run returns ended=true and the status to exit with;
// otherwise it returns the command's error.
func Run(model any, args []string, name, description string, out, errw io.Writer, binds ...any) (code int, ended bool, err error) {
	parser, err := kong.New(model,
		kong.Name(name),
		kong.Description(description),
		kong.Writers(out, errw),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.UsageOnError(),
		kong.Bind(binds...),
	)
	if err != nil {
		fmt.Fprintf(errw, "%s: %v\n", name, err)
		return 2, true, nil
	}
	defer func() {
		if r := recover(); r != nil {
			k, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code, ended, err = int(k), true, nil
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(errw, "%s: %v\n", name, err)
		return 2, true, nil
	}
	return 0, false, kctx.Run()
}
