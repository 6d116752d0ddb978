package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

// version is the release; commit is set by the Makefile (-ldflags -X main.commit=...) or, when
// built from a git checkout without it, read from the build info.
var (
	version = "0.1.0"
	commit  = ""
)

var versionCommand = &cli.Command{
	Name:  "version",
	Usage: "print the version, the OCI runtime-spec version and the commit",
	Action: func(c *cli.Context) error {
		if err := noArgs(c); err != nil {
			return err
		}
		printVersion(c.App.Writer)
		return nil
	},
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "contain version %s\n", version)
	fmt.Fprintf(w, "commit: %s\n", buildCommit())
	fmt.Fprintf(w, "spec: %s\n", specs.Version)
	fmt.Fprintf(w, "go: %s\n", runtime.Version())
}

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" && dirty {
			return rev + "-dirty"
		}
		if rev != "" {
			return rev
		}
	}
	return "unknown"
}
