package server

import "github.com/keyless-dev/keyless/internal/config"

type configT = config.Config

func loadForTest(file string) (*config.Config, error) { return config.Load(file) }
