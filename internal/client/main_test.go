package client

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"testing"
)

// helperEnv makes the test binary act as the program that Exec runs (see TestMain).
const helperEnv = "KEYLESS_CLIENT_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// helper is the child program: "exit:N" exits N, "env:A,B" prints NAME=value lines,
// "signal" reports the first forwarded signal it gets and exits 42, "kill" kills
// itself with SIGKILL.
func helper(mode string) int {
	kind, arg, _ := strings.Cut(mode, ":")
	switch kind {
	case "exit":
		n, _ := strconv.Atoi(arg)
		return n
	case "env":
		for _, name := range strings.Split(arg, ",") {
			v, ok := os.LookupEnv(name)
			fmt.Printf("%s=%s set=%v\n", name, v, ok)
		}
		return 0
	case "signal":
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, ForwardedSignals()...)
		fmt.Println("ready")
		fmt.Println("got", <-ch)
		return 42
	case "kill":
		p, _ := os.FindProcess(os.Getpid())
		_ = p.Kill()
		select {}
	}
	return 99
}
