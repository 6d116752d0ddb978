// Step 09 gives the container a cable to the host: a veth pair between the two network
// namespaces.
//
// A veth pair is two network devices joined back to back: what is sent into one comes out of
// the other. The parent makes a pair, moves one end into the child's network namespace and
// keeps the other; each side gives its end an address in one small subnet and brings it up.
// Now the container and the host reach each other, and nothing else does: the container has
// no route beyond the host's end. The parent must act after the child exists but before the
// command runs, so it starts the child held back (StartChild), plugs the cable in, and then
// lets it go (Continue).
//
// Run it (as root). The parent puts an address on the host's side: on your workshop VM, run
// it directly,
//
//	sudo go run ./steps/09-veth /bin/sh    # inside: ip addr, then ping the address below yours
//
// and elsewhere first enter a network namespace of your own that stands for the host:
//
//	sudo unshare --net bash
//	go run ./steps/09-veth /bin/sh    # in that root shell
//
// Man pages: veth(4), network_namespaces(7), ip-link(8), ip-address(8), rtnetlink(7).
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/rootfs"
)

// hostname is the name the container sees.
const hostname = "container"

// cableEnv tells the child the number its cable is named after (see cableFor).
const cableEnv = "CONTAIN_CABLE"

func main() {
	isolate.StepMain("09-veth", rootfs.Default, parent, child) // step 00
}

// parent runs the child in new namespaces, cabled to us by a veth pair, and returns its exit
// status.
func parent(rootfs string, command []string) (int, error) {
	var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET
	o := isolate.Overlay{Lower: rootfs, Dir: filepath.Join(isolate.WorkshopRunDir, fmt.Sprintf("09-veth-%d", os.Getpid()))}
	defer o.Remove()                  // step 06 (deferred first: it also cleans up a failed Mount)
	if err := o.Mount(); err != nil { // step 06
		return 0, err
	}
	c := cableFor(os.Getpid())
	// The child learns the number from its environment, and takes it out before exec.
	os.Setenv(cableEnv, strconv.Itoa(os.Getpid()))
	child, err := isolate.StartChild(cloneflags, append([]string{o.Merged()}, command...)...) // step 00
	if err != nil {
		return 0, err
	}
	// The kernel deletes the pair when the child's network namespace dies, but a moment after
	// the child is reaped, and a failed setup may leave our end here: delete it if still here.
	defer unplug(c.hostEnd)
	// The child waits for us until Continue. If we fail first, Wait closes the pipe it waits on
	// without a go-ahead, and the child gives up.
	fail := func(err error) (int, error) {
		child.Wait()
		return 0, err
	}
	// SOLUTION BEGIN: plug the cable in: a veth pair, one end moved into the child's network namespace, ours with its address and up.
	// HINT: veth(4), ip-link(8). With netlink: netlink.LinkAdd(&netlink.Veth{LinkAttrs:
	// HINT: netlink.LinkAttrs{Name: c.hostEnd}, PeerName: c.ctEnd}) makes the pair here; find
	// HINT: the peer with netlink.LinkByName(c.ctEnd) and move it with netlink.LinkSetNsPid
	// HINT: (child.Pid() names the child's namespaces); then netlink.AddrAdd(ours, c.hostAddr)
	// HINT: and netlink.LinkSetUp(ours).
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: c.hostEnd}, PeerName: c.ctEnd}
	if err := netlink.LinkAdd(veth); err != nil {
		return fail(fmt.Errorf("add veth %s (peer %s): %w", c.hostEnd, c.ctEnd, err))
	}
	peer, err := netlink.LinkByName(c.ctEnd)
	if err != nil {
		return fail(fmt.Errorf("find %s: %w", c.ctEnd, err))
	}
	if err := netlink.LinkSetNsPid(peer, child.Pid()); err != nil {
		return fail(fmt.Errorf("move %s to the network namespace of pid %d: %w", c.ctEnd, child.Pid(), err))
	}
	if err := netlink.AddrAdd(veth, c.hostAddr); err != nil {
		return fail(fmt.Errorf("add address %s to %s: %w", c.hostAddr.IPNet, c.hostEnd, err))
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return fail(fmt.Errorf("set %s up: %w", c.hostEnd, err))
	}
	// SOLUTION END
	if err := child.Continue(); err != nil {
		return fail(fmt.Errorf("let the child go: %w", err))
	}
	return child.Wait()
}

// child sets the container up from inside, then becomes the command.
func child(rootfs string, command []string) error {
	if err := isolate.SetupContainer(rootfs, hostname); err != nil { // steps 01-08
		return err
	}
	n, err := strconv.Atoi(os.Getenv(cableEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", cableEnv, err)
	}
	os.Unsetenv(cableEnv) // the command has no use for it
	c := cableFor(n)
	if err := isolate.WaitForParent(); err != nil { // step 00: meanwhile the parent plugs the cable in
		return err
	}
	// SOLUTION BEGIN: give our end of the cable (c.ctEnd, which the parent moved in here) its address, and bring it up.
	// HINT: ip-address(8), ip-link(8). With netlink: netlink.LinkByName(c.ctEnd), then
	// HINT: netlink.AddrAdd(link, c.ctAddr) and netlink.LinkSetUp(link).
	// EXERCISE: _ = c
	link, err := netlink.LinkByName(c.ctEnd)
	if err != nil {
		return fmt.Errorf("find %s: %w", c.ctEnd, err)
	}
	if err := netlink.AddrAdd(link, c.ctAddr); err != nil {
		return fmt.Errorf("add address %s to %s: %w", c.ctAddr.IPNet, c.ctEnd, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", c.ctEnd, err)
	}
	// SOLUTION END
	return isolate.Exec(command) // step 00
}

// cable is a veth pair and the addresses of its two ends.
type cable struct {
	hostEnd, ctEnd   string        // device names: 15 bytes at most (IFNAMSIZ in netdevice(7))
	hostAddr, ctAddr *netlink.Addr // the two usable addresses of one /30
}

// cableFor names a cable after n, the parent's pid, so that containers started side by side
// get different ones: "ct<n>h" on the host, "ct<n>c" in the container, and the n-th /30 of
// 10.0.0.0/8, which starts at 10.0.0.0 + 4n (pids are below 2^22, so 4n fits in 24 bits). The
// host end gets its first address, the container end the second.
func cableFor(n int) cable {
	base := 10<<24 + 4*n
	addr := func(i int) *netlink.Addr {
		ip := net.IPv4(byte(base>>24), byte(base>>16), byte(base>>8), byte(base)+byte(i))
		return &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(30, 32)}}
	}
	return cable{fmt.Sprintf("ct%dh", n), fmt.Sprintf("ct%dc", n), addr(1), addr(2)}
}

// unplug deletes the network device name, if it is still here.
func unplug(name string) {
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return
	}
	if err == nil {
		err = netlink.LinkDel(link)
	}
	if err != nil && !errors.Is(err, unix.ENODEV) { // ENODEV: the kernel deleted it first
		fmt.Fprintf(os.Stderr, "parent: delete %s: %v\n", name, err)
	}
}
