package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/keyless-dev/keyless/internal/demo"
)

type demoCmd struct{}

func (d *demoCmd) Run(io stdio) error {
	dir, err := os.MkdirTemp("", "keyless-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return demo.Run(ctx, io.Out, dir)
}
