package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/containkit/contain/isolate"
	"github.com/urfave/cli/v2"
)

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print a container's resource use and OOM kills as JSON lines, until it stops (--stats: the use, once)",
	ArgsUsage: "ID",
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "print the stats every `DURATION`"},
		&cli.BoolFlag{Name: "stats", Usage: "print the stats once and exit"},
	},
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		if c.Bool("stats") {
			ev, err := isolate.Stats(c.String("root"), id)
			if err != nil {
				return err
			}
			return json.NewEncoder(c.App.Writer).Encode(ev) // one line, as every event
		}
		interval := c.Duration("interval")
		if interval <= 0 {
			return fmt.Errorf("--interval %s: want a duration above zero, such as 5s", interval)
		}
		return isolate.Events(c.String("root"), id, interval, c.App.Writer, logger)
	},
}
