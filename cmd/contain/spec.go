package main

import (
	"github.com/urfave/cli/v2"

	"github.com/containkit/contain/isolate"
)

var specCommand = &cli.Command{
	Name:      "spec",
	Usage:     "write a default config.json for a bundle",
	UsageText: "contain spec [--bundle DIR]",
	Description: "Writes DIR/config.json (default: the current directory): process [\"sh\"] without a terminal,\n" +
		"root \"rootfs\", the default namespaces, mounts, capabilities and masked paths. Put a root\n" +
		"filesystem in DIR/rootfs (contain rootfs build DIR/rootfs) and run it with\n" +
		"contain run --bundle DIR ID.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle `DIR`"},
	},
	Action: func(c *cli.Context) error {
		spec := isolate.DefaultSpec()
		spec.Process.Env = append(spec.Process.Env, "TERM=xterm")
		return isolate.WriteSpec(c.String("bundle"), spec)
	},
}
