package checks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/isolate"
)

// Step 09's program gives the network namespace it runs in a veth end and an address. The
// checks never run it in the machine's own: every run starts from a thread of the checker that
// has entered a fresh network namespace (inFreshNetns). That namespace stands for the host;
// the only traffic is between it and the container's, over addresses the program chose, and
// both namespaces die with the run.

// cablePort is where the container listens; its network namespace is new, so the port is free.
const cablePort = 7009

func init() {
	register(9,
		Check{
			Name: "the container and the host end of the cable reach each other",
			Hint: "the parent makes a veth pair, moves one end into the child's network namespace (netlink.LinkSetNsPid), gives its own end an address and brings it up; the child, after WaitForParent, gives its end the other address of the /30 and brings it up",
			Run: func(e *Env) error {
				_, err := runCabled(e, func(c *cabled) error {
					hostIP, err := cableAddr(c.hostLinks, "on the host's side")
					if err != nil {
						return err
					}
					var ctIP net.IP
					err = inNetnsOf(c.ctPid, func() error {
						links, err := nonLoopback()
						if err == nil {
							ctIP, err = cableAddr(links, "inside")
						}
						return err
					})
					if err != nil {
						return err
					}
					// The host end connects to the container's listener.
					ct := net.JoinHostPort(ctIP.String(), strconv.Itoa(cablePort))
					conn, err := net.DialTimeout("tcp4", ct, 3*time.Second)
					if err != nil {
						return fmt.Errorf("the host end (%s) cannot reach the container's listener: %w", hostIP, err)
					}
					conn.Close()
					// The container connects to a listener on the host end.
					ln, err := net.Listen("tcp4", net.JoinHostPort(hostIP.String(), "0"))
					if err != nil {
						return fmt.Errorf("listen on the host end: %w", err)
					}
					defer ln.Close()
					err = inNetnsOf(c.ctPid, func() error {
						conn, err := net.DialTimeout("tcp4", ln.Addr().String(), 3*time.Second)
						if err != nil {
							return fmt.Errorf("the container (%s) cannot reach a listener on the host end: %w", ctIP, err)
						}
						return conn.Close()
					})
					if err != nil {
						return err
					}
					ln.(*net.TCPListener).SetDeadline(time.Now().Add(3 * time.Second))
					in, err := ln.Accept()
					if err != nil {
						return fmt.Errorf("accept the container's connection on the host end: %w", err)
					}
					defer in.Close()
					if from := in.RemoteAddr().(*net.TCPAddr).IP; !from.Equal(ctIP) {
						return fmt.Errorf("the host end got a connection from %s, want the container's %s", from, ctIP)
					}
					return nil
				})
				return err
			},
		},
		Check{
			Name: "the host end is gone once the container exits",
			Hint: "the kernel deletes a veth pair when the network namespace of either end dies: move the container's end into the child's namespace, and delete your end after Wait if it is still there",
			Run: func(e *Env) error {
				var during []string
				after, err := runCabled(e, func(c *cabled) error {
					during = interfaceNames(c.hostLinks)
					if len(during) == 0 {
						return errors.New("no network device appeared on the host's side while the container ran: the parent must make a veth pair")
					}
					return nil
				})
				if err != nil {
					return err
				}
				if len(after) > 0 {
					return fmt.Errorf("while the container ran the host's side had %s; after it exited, %s is still there",
						strings.Join(during, ", "), strings.Join(after, ", "))
				}
				return nil
			},
		},
		Check{
			Name: "inside, lo and the container's end of the cable are up",
			Hint: "the child brings lo up (step 08) and, after WaitForParent, its end of the veth pair (netlink.LinkSetUp)",
			Run: func(e *Env) error {
				var r *probe.Report
				err := inFreshNetns(func() (err error) {
					r, err = e.Report(9)
					return err
				})
				if err != nil {
					return err
				}
				var state []string
				up := 0
				for _, l := range r.Links {
					word := "down"
					if l.Up {
						word, up = "up", up+1
					}
					state = append(state, l.Name+" "+word)
				}
				if len(r.Links) != 2 || r.Links[0].Name != "lo" || up != 2 {
					return fmt.Errorf("inside, the devices are: %s; want lo and one end of the cable, both up", strings.Join(state, ", "))
				}
				return nil
			},
		},
	)
}

// inFreshNetns runs f on an OS thread of its own that has entered a new network namespace
// (unshare(2) with CLONE_NEWNET), so that what f starts lives there too. The thread stays
// locked and is thrown away when f returns: no other goroutine ever runs in that namespace.
func inFreshNetns(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime ends the thread with this goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare CLONE_NEWNET: %w", err)
			return
		}
		done <- f()
	}()
	return <-done
}

// inNetnsOf runs f on a thread of its own that has joined the network namespace of pid
// (setns(2)): a socket f opens is one that the container could open.
func inNetnsOf(pid int, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, as in inFreshNetns
		ns := fmt.Sprintf("/proc/%d/ns/net", pid)
		fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("open %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			done <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// cabled is what the stand-in host sees while the container listens on cablePort.
type cabled struct {
	hostLinks []net.Interface // its network devices other than lo
	ctPid     int             // the container's first process
}

// runCabled runs the program in a fresh network namespace with a container that listens on
// cablePort until its stdin closes, calls during once it listens, and then lets it exit. It
// returns the devices other than lo left in that namespace after the program exited.
func runCabled(e *Env, during func(*cabled) error) (after []string, err error) {
	err = inFreshNetns(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
		defer cancel()
		// sh is the container's first process: when it exits, its pid namespace ends, and the
		// listener with it.
		cmd := e.Command(ctx, "/bin/sh", "-c", fmt.Sprintf("/bin/probe bind %d 60 & read line", cablePort))
		// The parent must plug the cable in before it lets the child go, which looks for its
		// end at once: a delay after the go-ahead turns the wrong order into a failure.
		cmd.Env = append(os.Environ(), isolate.ContinueDelayEnv+"=300ms")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		out, w, err := os.Pipe()
		if err != nil {
			return err
		}
		defer out.Close()
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = w, &stderr
		err = cmd.Start()
		w.Close()
		if err != nil {
			return err
		}
		duringErr := func() error {
			out.SetReadDeadline(time.Now().Add(e.Timeout))
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				return errors.New("the container never got to listen (probe bind printed nothing)")
			}
			var res probe.BindResult
			if err := json.Unmarshal([]byte(line), &res); err != nil || !res.OK {
				return fmt.Errorf("probe bind %d inside: %s", cablePort, firstLine(res.Error+line))
			}
			ctPid, err := childOf(cmd.Process.Pid)
			if err != nil {
				return err
			}
			links, err := nonLoopback()
			if err != nil {
				return err
			}
			return during(&cabled{hostLinks: links, ctPid: ctPid})
		}()
		stdin.Close()
		cmd.Wait()
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("still running after %v: killed (is the child waiting for something?)", e.Timeout)
		case duringErr != nil && stderr.Len() > 0:
			return fmt.Errorf("%w (the program said: %s)", duringErr, firstLine(stderr.String()))
		case duringErr != nil:
			return duringErr
		}
		// The kernel dismantles a dead network namespace a moment after its last process
		// exits: give it that moment.
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			links, err := nonLoopback()
			if err != nil {
				return err
			}
			after = interfaceNames(links)
			if len(after) == 0 || time.Now().After(deadline) {
				return nil
			}
		}
	})
	return after, err
}

// nonLoopback lists the network devices of the calling thread's network namespace, lo aside.
// The calling goroutine must be locked to its thread (net.Interfaces asks the kernel over
// netlink from the thread it runs on).
func nonLoopback() ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network devices: %w", err)
	}
	var links []net.Interface
	for _, l := range all {
		if l.Flags&net.FlagLoopback == 0 {
			links = append(links, l)
		}
	}
	return links, nil
}

// cableAddr is the IPv4 address of the one device in links (where names the side).
func cableAddr(links []net.Interface, where string) (net.IP, error) {
	if len(links) != 1 {
		return nil, fmt.Errorf("%s, the devices other than lo are [%s]: want one end of the cable", where, strings.Join(interfaceNames(links), ", "))
	}
	addrs, err := links[0].Addrs()
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", links[0].Name, err)
	}
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil {
			if links[0].Flags&net.FlagUp == 0 {
				return nil, fmt.Errorf("%s, %s has the address %s but is down", where, links[0].Name, ip)
			}
			return ip.IP.To4(), nil
		}
	}
	return nil, fmt.Errorf("%s, %s has no IPv4 address", where, links[0].Name)
}

func interfaceNames(links []net.Interface) []string {
	names := make([]string, len(links))
	for i, l := range links {
		names[i] = l.Name
	}
	return names
}

// childOf finds the child process of pid: the program's child, the container's first process.
func childOf(pid int) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("the program (pid %d) has no child process", pid)
}
