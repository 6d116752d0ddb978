package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/containkit/contain/rootfs"
)

var rootfsCommand = &cli.Command{
	Name:  "rootfs",
	Usage: "make root filesystems, offline",
	Subcommands: []*cli.Command{{
		Name:      "build",
		Usage:     "build a root filesystem in DIR",
		UsageText: "contain rootfs build DIR [--from busybox|host|FILE.tar[.gz|.bz2|.xz|.zst]]",
		Description: "busybox: the host's static busybox and its applet links (Debian: busybox-static).\n" +
			"host: a few host programs with the libraries and loader they need.\n" +
			"FILE.tar[.gz...]: a tarball such as `docker export` output, unpacked without escapes;\n" +
			"  plain, or gzip, bzip2, xz or zstd, told by its content and decompressed by the\n" +
			"  host's program of that name, as tar does (Debian: gzip, bzip2, xz-utils, zstd);\n" +
			"  modes, owners, times, file capabilities and user.* xattrs kept. A pipe works too:\n" +
			"  --from - reads the archive from standard input (docker export C | contain ...).\n" +
			"An existing DIR must be empty; it gets mode 0755, as / has.\n" +
			"Every rootfs gets /bin/probe and a minimal /etc.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Value: "busybox", Usage: "busybox, host, or a tarball `FILE` (- for standard input)"},
		},
		Action: func(c *cli.Context) error {
			dir, from, err := buildArgs(c)
			if err != nil {
				return err
			}
			probe, err := rootfs.FindProbe()
			if err != nil {
				return err
			}
			if err := rootfs.Build(dir, rootfs.Options{From: from, Probe: probe, Log: stderr}); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "rootfs ready in %s\n", dir)
			return nil
		},
	}},
}

// buildArgs reads DIR and --from. urfave/cli stops reading flags at the first argument, and the
// documented form puts --from after DIR, so flags after DIR are parsed here.
func buildArgs(c *cli.Context) (dir, from string, err error) {
	usage := errors.New("usage: contain rootfs build DIR [--from busybox|host|FILE.tar[.gz|.bz2|.xz|.zst]]")
	if c.NArg() < 1 {
		return "", "", usage
	}
	fs := flag.NewFlagSet("rootfs build", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fromFlag := fs.String("from", c.String("from"), "")
	if err := fs.Parse(c.Args().Tail()); err != nil || fs.NArg() != 0 {
		return "", "", usage
	}
	return c.Args().First(), *fromFlag, nil
}
