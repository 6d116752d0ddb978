package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/containkit/contain/rootfs"
)

var rootfsCommand = &cli.Command{
	Name:  "rootfs",
	Usage: "make root filesystems, offline",
	Subcommands: []*cli.Command{{
		Name:      "build",
		Usage:     "build a root filesystem in DIR",
		UsageText: "contain rootfs build DIR [--from busybox|host|FILE.tar[.gz]]",
		Description: "busybox: the host's static busybox and its applet links (Debian: busybox-static).\n" +
			"host: a few host programs with the libraries and loader they need.\n" +
			"FILE.tar[.gz]: a tarball such as `docker export` output, unpacked without escapes.\n" +
			"Every rootfs gets /bin/probe and a minimal /etc.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Value: "busybox", Usage: "busybox, host, or a tarball `FILE`"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("usage: contain rootfs build DIR [--from busybox|host|FILE.tar[.gz]]")
			}
			probe, err := rootfs.FindProbe()
			if err != nil {
				return err
			}
			dir := c.Args().First()
			if err := rootfs.Build(dir, rootfs.Options{From: c.String("from"), Probe: probe, Log: os.Stderr}); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "rootfs ready in %s\n", dir)
			return nil
		},
	}},
}
