package main

import (
	"errors"
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
		&cli.BoolFlag{Name: "rootless", Usage: "runc's spec for a container run without root, which contain lacks: refused"},
	},
	Action: func(c *cli.Context) error {
		if err := noArgs(c); err != nil {
			return err
		}
		if c.Bool("rootless") {
			return errors.New("spec --rootless: contain runs containers as root only (a rootless spec needs a user namespace, which contain does not make yet)")
		}
		spec := isolate.DefaultSpec()
		spec.Version = specFileVersion
		spec.Process.Env = append(spec.Process.Env, "TERM=xterm")
		return isolate.WriteSpec(c.String("bundle"), spec)
	},
}

// specFileVersion is the ociVersion of the config.json that spec writes: the oldest
// runtime-spec that has every field it writes. The runtime implements a later one (contain
// version), but a bundle should run under other runtimes too, and Debian 12's crun (1.8.1)
// refuses 1.3.0 ("unknown version specified"); runc 1.1's own spec writes 1.0.2-dev.
const specFileVersion = "1.0.2"
