package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/containkit/contain/cmd/contain/internal/relax"
	"github.com/containkit/contain/internal/testenv"
)

// needBinaries gates tests that only run the binary, not containers.
func needBinaries(t *testing.T) {
	t.Helper()
	if setupErr != nil {
		testenv.Skip(t, "setup failed: "+setupErr.Error())
	}
	if containBin == "" {
		testenv.Skip(t, "binaries are built only in the root test sandbox")
	}
}

func TestVersion(t *testing.T) {
	needBinaries(t)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out := mustRunCLI(t, args...)
		for _, want := range []string{"contain version ", "commit: ", "spec: " + specs.Version} {
			if !strings.Contains(out, want) {
				t.Errorf("contain %s = %q, lacks %q", args[0], out, want)
			}
		}
	}
}

func TestSpecWritesDefaultConfig(t *testing.T) {
	needBinaries(t)
	dir := t.TempDir()
	mustRunCLI(t, "spec", "--bundle", dir)
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Process.Terminal || len(spec.Process.Args) != 1 || spec.Process.Args[0] != "sh" || spec.Root.Path != "rootfs" {
		t.Errorf("spec process %+v root %+v", spec.Process, spec.Root)
	}
	// A version other runtimes read too (Debian 12's crun refuses 1.3.0).
	if spec.Version != "1.0.2" {
		t.Errorf("ociVersion %q, want 1.0.2", spec.Version)
	}
	if out, err := containCmd("spec", "--bundle", dir).CombinedOutput(); err == nil {
		t.Errorf("a second spec overwrote config.json: %s", out)
	}
}

// With no --rootfs, contain builds the default rootfs on first use and says so, once.
func TestDefaultRootfsIsBuiltOnFirstUse(t *testing.T) {
	needContainer(t)
	dir := filepath.Join(t.TempDir(), "default-rootfs")
	run := func() result {
		cmd := containCmd("run", "--", "sh", "-c", "echo hi")
		cmd.Env = append(cmd.Env, "CONTAIN_ROOTFS="+dir)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := runWithTimeout(t, cmd, 60e9)
		if err != nil {
			t.Fatalf("contain run: %v\n%s", err, errOut.String())
		}
		return result{out.String(), errOut.String(), 0}
	}
	first := run()
	if first.stdout != "hi\n" || strings.Count(first.stderr, "\n") != 1 || !strings.Contains(first.stderr, dir) {
		t.Errorf("first run: stdout %q, stderr %q; want hi and one line naming %s", first.stdout, first.stderr, dir)
	}
	second := run()
	if second.stdout != "hi\n" || second.stderr != "" {
		t.Errorf("second run: stdout %q, stderr %q; want hi and nothing else", second.stdout, second.stderr)
	}
}

// --log FILE --log-format json: one JSON object per line, lowercase level (runc's format).
func TestJSONLog(t *testing.T) {
	needContainer(t)
	log := filepath.Join(t.TempDir(), "log.json")
	r := contain(t, "", "--log", log, "--log-format", "json", "run", "--bundle", t.TempDir(), "nologbundle")
	if r.code == 0 {
		t.Fatal("a run of an empty bundle succeeded")
	}
	data, _ := os.ReadFile(log)
	var entry map[string]any
	if err := json.Unmarshal([]byte(strings.Split(string(data), "\n")[0]), &entry); err != nil {
		t.Fatalf("log line is not JSON: %q", data)
	}
	if entry["level"] != "error" || !strings.Contains(entry["msg"].(string), "config.json") || entry["time"] == nil {
		t.Errorf("log entry %v, want level error, msg naming config.json, a time", entry)
	}

	// A create that warns (a field contain ignores) and then fails leaves one JSON object,
	// the error with the warnings in it: podman reads the whole file with one json.Unmarshal
	// and shows "msg" (and maps "executable file not found" to exit 127).
	warns := newBundle(t, func(spec obj) {
		linux(spec)["seccomp"] = obj{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list{obj{"names": list{"mount"}, "action": "SCMP_ACT_ERRNO"}}}
		process(spec)["args"] = list{"/no/such/program"}
	})
	failLog := filepath.Join(t.TempDir(), "oci-log")
	if r := contain(t, "", "--log", failLog, "--log-format", "json", "create", "--bundle", warns, "jsonlog"); r.code == 0 {
		mustRunCLI(t, "delete", "--force", "jsonlog")
		t.Fatal("a create of a missing program succeeded")
	}
	data, _ = os.ReadFile(failLog)
	var failure struct {
		Level, Msg string
		Warnings   []string
	}
	if err := json.Unmarshal(data, &failure); err != nil {
		t.Fatalf("the log of a failed create is not one JSON object (%v): %q", err, data)
	}
	if failure.Level != "error" || !strings.Contains(failure.Msg, "/no/such/program") ||
		len(failure.Warnings) != 1 || !strings.Contains(failure.Warnings[0], "linux.seccomp") {
		t.Errorf("failed create's log: %+v, want the error naming the program, with the seccomp warning", failure)
	}
	// A run that warns and succeeds writes the warning as a line of its own.
	okLog := filepath.Join(t.TempDir(), "oci-log")
	ok := newBundle(t, func(spec obj) {
		linux(spec)["seccomp"] = obj{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list{obj{"names": list{"mount"}, "action": "SCMP_ACT_ERRNO"}}}
		process(spec)["args"] = list{"/bin/probe", "sleep", "0"}
	})
	if r := contain(t, "", "--log", okLog, "--log-format", "json", "run", "--bundle", ok, "jsonlog2"); r.code != 0 {
		t.Fatalf("run: exit %d %s", r.code, r.stderr)
	}
	data, _ = os.ReadFile(okLog)
	var warning map[string]any
	// "warning", as runc's logrus names the level (slog's own name is WARN).
	if err := json.Unmarshal(data, &warning); err != nil || warning["level"] != "warning" || !strings.Contains(fmt.Sprint(warning["msg"]), "linux.seccomp") {
		t.Errorf("a run that warned: log %q (%v), want one warning line about linux.seccomp", data, err)
	}
}

// contain rootfs build, from host programs and from a tarball, makes trees containers run on.
func TestRootfsBuild(t *testing.T) {
	needContainer(t)
	dir := t.TempDir()
	host := filepath.Join(dir, "host")
	mustRunCLI(t, "rootfs", "build", host, "--from", "host")
	if out := mustRun(t, "run", "--rootfs", host, "--", "sh", "-c", "echo from host programs"); out != "from host programs\n" {
		t.Errorf("host rootfs: %q", out)
	}
	// A tarball, the shape of `docker export` output: made here from the test rootfs.
	archive := filepath.Join(dir, "image.tar.gz")
	if out, err := exec.Command("tar", "-C", testRootfs, "-czf", archive, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	fromTar := filepath.Join(dir, "tar")
	mustRunCLI(t, "rootfs", "build", fromTar, "--from", archive)
	if out := mustRun(t, "run", "--rootfs", fromTar, "--", "sh", "-c", "echo from a tarball"); out != "from a tarball\n" {
		t.Errorf("tarball rootfs: %q", out)
	}
	// The same archive through a pipe, as `docker export C | contain rootfs build DIR --from -`.
	fromPipe := filepath.Join(dir, "pipe")
	build := containCmd("rootfs", "build", fromPipe, "--from", "-")
	cat := exec.Command("cat", archive)
	pipe, err := cat.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	build.Stdin = pipe // an *os.File: the child's stdin is the pipe itself
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	out, err := build.CombinedOutput()
	pipe.Close() // cat ends (EPIPE) even when the build did not read it all
	cat.Wait()
	if err != nil {
		t.Fatalf("rootfs build --from - from a pipe: %v\n%s", err, out)
	}
	if out := mustRun(t, "run", "--rootfs", fromPipe, "--", "sh", "-c", "echo from a pipe"); out != "from a pipe\n" {
		t.Errorf("piped tarball rootfs: %q", out)
	}
	for _, p := range []string{"bin/probe", "etc/passwd", "etc/group", "etc/hostname", "etc/resolv.conf"} {
		if _, err := os.Stat(filepath.Join(host, p)); err != nil {
			t.Errorf("host rootfs lacks %s: %v", p, err)
		}
	}
	if out, err := containCmd("rootfs", "build", host).CombinedOutput(); err == nil {
		t.Errorf("building into a non-empty directory succeeded: %s", out)
	}
}

// The global flags containerd's runc shim may pass to every command are accepted: --criu
// (ignored) and --rootless false or auto; --rootless=true is refused where a container is made.
func TestRuncGlobalFlags(t *testing.T) {
	needContainer(t)
	if r := contain(t, "", "--criu", "/usr/sbin/criu", "--rootless=false", "list", "-q"); r.code != 0 {
		t.Errorf("--criu PATH --rootless=false list: exit %d, %q", r.code, r.stderr)
	}
	if r := contain(t, "", "--rootless", "auto", "run", "--rootfs", testRootfs, "--", "true"); r.code != 0 {
		t.Errorf("--rootless auto run: exit %d, %q", r.code, r.stderr)
	}
	for _, form := range [][]string{{"run", "--bundle", newBundle(t, nil), "rootless"}, {"run", "--rootfs", testRootfs, "--", "true"}} {
		if r := contain(t, "", append([]string{"--rootless=true"}, form...)...); r.code == 0 || !strings.Contains(r.stderr, "as root only") {
			t.Errorf("--rootless=true %s: exit %d, %q: want it refused", strings.Join(form, " "), r.code, r.stderr)
		}
	}
	if r := contain(t, "", "--rootless=maybe", "list"); r.code == 0 || !strings.Contains(r.stderr, "want true, false or auto") {
		t.Errorf("--rootless=maybe: exit %d, %q", r.code, r.stderr)
	}
}

// A command's first argument is never taken for urfave/cli's "help" subcommand: run runs a
// program called help, and a container may be called help.
func TestHelpIsAnArgument(t *testing.T) {
	needContainer(t)
	if r := contain(t, "", "run", "--rootfs", testRootfs, "--", "help", "me"); r.code == 0 || !strings.Contains(r.stderr, "exec help") {
		t.Errorf("run -- help me: exit %d, %q: want an attempt to run help", r.code, r.stderr)
	}
	if r := contain(t, "", "kill", "help", "KILL"); r.code == 0 || !strings.Contains(r.stderr, `container "help": container does not exist`) {
		t.Errorf("kill help: exit %d, %q: want container help looked up", r.code, r.stderr)
	}
}

// A flag run cannot read is contain's own failure: 125, as docker run exits for it, with the
// flag named, and no container made; not 1, which the command could have exited with.
func TestRunUsageErrorIs125(t *testing.T) {
	for _, args := range [][]string{{"--bogusflag", "--", "true"}, {"--cpus", "abc", "--", "true"}} {
		r := contain(t, "", append([]string{"run"}, args...)...)
		if r.code != 125 || !strings.Contains(r.stderr, "contain run --help") || strings.Contains(r.stderr, "USAGE") {
			t.Errorf("run %q: exit %d, stderr %q; want 125 with the flag named", args, r.code, r.stderr)
		}
	}
}

// As in runc: an id verb's flags may follow its arguments (`delete ID --force`, `kill ID
// KILL --all`, `update ID --pids-limit N`), `contain help [VERB]` prints the help, and a verb
// that takes no arguments refuses them.
func TestRuncArgumentOrder(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} })
	createContainer(t, bundle, "order")
	if r := contain(t, "", "update", "order", "--pids-limit", "60"); r.code != 0 {
		t.Errorf("update ID --pids-limit 60: exit %d, %q", r.code, r.stderr)
	}
	if r := contain(t, "", "kill", "order", "KILL", "--all"); r.code != 0 {
		t.Errorf("kill ID KILL --all: exit %d, %q", r.code, r.stderr)
	}
	if r := contain(t, "", "delete", "order", "--force"); r.code != 0 {
		t.Errorf("delete ID --force: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(stateRoot, "order")); err == nil {
		t.Error("delete ID --force left the container")
	}
	if r := contain(t, "", "help", "kill"); r.code != 0 || !strings.Contains(r.stdout, "contain kill") {
		t.Errorf("help kill: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if r := contain(t, "", "spec", "--rootless", "--bundle", t.TempDir()); r.code == 0 || !strings.Contains(r.stderr, "as root only") {
		t.Errorf("spec --rootless: exit %d, %q, want it refused", r.code, r.stderr)
	}
	for _, verb := range []string{"list", "features", "spec", "version"} {
		if r := contain(t, "", verb, "extra"); r.code == 0 || !strings.Contains(r.stderr, "takes no arguments") {
			t.Errorf("%s extra: exit %d, %q", verb, r.code, r.stderr)
		}
	}
}

// Flags answer to their aliases and to IsSet, with their names cached (cacheFlagNames), and
// the help shows every name.
func TestFlagNames(t *testing.T) {
	needBinaries(t)
	bundle := t.TempDir()
	if r := contain(t, "", "run", "-b", bundle, "names"); r.code == 0 || !strings.Contains(r.stderr, bundle+"/config.json") {
		t.Errorf("run -b DIR: exit %d, stderr %q: want DIR/config.json not found", r.code, r.stderr)
	}
	if r := contain(t, "", "run", "-b", bundle, "-m", "1g", "names"); r.code == 0 || !strings.Contains(r.stderr, "--memory belongs to the quick form") {
		t.Errorf("run -b DIR -m 1g: exit %d, stderr %q: want --memory refused", r.code, r.stderr)
	}
	help := mustRunCLI(t, "run", "--help")
	// -e is a flag of its own beside --env (see envValues in app.go), hidden from the list.
	for _, want := range []string{"--bundle DIR, -b DIR", "--memory BYTES, -m BYTES", "--env KEY=VAL", "(also -e;", "--tty, -t", "--interactive, -i"} {
		if !strings.Contains(help, want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
}

// The names cacheFlagNames gives each flag are the ones urfave/cli works out itself.
func TestFlagNamesAsUrfave(t *testing.T) {
	var check func(flags []cli.Flag, commands []*cli.Command)
	checked := 0
	check = func(flags []cli.Flag, commands []*cli.Command) {
		for _, f := range flags {
			// A cached flag is a struct that embeds urfave/cli's own first; any other is one of
			// urfave/cli's pointers.
			v := reflect.ValueOf(f)
			if v.Kind() != reflect.Struct {
				continue
			}
			checked++
			if got, want := f.Names(), v.Field(0).Interface().(cli.Flag).Names(); !slices.Equal(got, want) {
				t.Errorf("flag %q: cached names %q, urfave/cli's %q", want[0], got, want)
			}
		}
		for _, c := range commands {
			check(c.Flags, c.Subcommands)
		}
	}
	app := newApp()
	check(app.Flags, app.Commands)
	if checked < 20 {
		t.Errorf("checked %d flags, want the run command's and the others' (20 or more)", checked)
	}
}

// A container's init starts in isolate/initproc's package initialiser (see that package), before
// the command line library and rootfs initialise: their initialisers never run in an init. Run
// by hand, with no config to read, init fails at once; Go's trace of package initialisers
// (GODEBUG=inittrace=1) shows which ran.
func TestInitSkipsTheCommandLinePackages(t *testing.T) {
	needBinaries(t)
	cmd := exec.Command(containBin, "init")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1", "GOMAXPROCS=2")
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("contain init with no config: %v, want exit status 1; output %q", err, out)
	}
	trace := string(out)
	for _, want := range []string{"init github.com/containkit/contain/isolate @", "contain init: init: read config"} {
		if !strings.Contains(trace, want) {
			t.Errorf("output lacks %q:\n%s", want, trace)
		}
	}
	for _, unwanted := range []string{"github.com/urfave/cli/v2", "github.com/containkit/contain/rootfs", "init main @"} {
		if strings.Contains(trace, unwanted) {
			t.Errorf("%s initialised in init:\n%s", unwanted, trace)
		}
	}
}

// Every start of contain (two for each container: the runtime and init) runs the initialisers
// of every package linked in. debug/elf and Go's decompressors cost each start about 0.8 and
// 0.4 ms of CPU in a slow hour (docs/performance.md), so rootfs reads ELF headers itself and
// has the host's programs decompress archives: neither may come back by a new import.
func TestStartsInitialiseNoCostlyPackage(t *testing.T) {
	needBinaries(t)
	costly := []string{"debug/elf", "debug/dwarf", "internal/zstd", "compress/flate", "compress/gzip", "compress/bzip2", "hash/crc32"}
	for _, args := range [][]string{{"--version"}, {"init"}} {
		cmd := exec.Command(containBin, args...)
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		out, _ := cmd.CombinedOutput()
		trace := string(out)
		if !strings.Contains(trace, "init github.com/containkit/contain/isolate @") {
			t.Fatalf("contain %s: no init trace:\n%s", args[0], trace)
		}
		for _, pkg := range costly {
			if strings.Contains(trace, "init "+pkg+" @") {
				t.Errorf("contain %s initialises %s", args[0], pkg)
			}
		}
	}
}

// Package relax tells the verb from os.Args before the command line is parsed, skipping the
// global flags and the values of those that take one: its list must be the App's.
func TestRelaxKnowsTheGlobalFlagsThatTakeAValue(t *testing.T) {
	var want []string
	for _, f := range newApp().Flags {
		if v, ok := f.(interface{ TakesValue() bool }); ok && v.TakesValue() {
			want = append(want, f.Names()...)
		}
	}
	got := slices.Clone(relax.ValueFlags)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("relax.ValueFlags = %q, the App's global flags with a value are %q", got, want)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{
		"TERM": 15, "SIGKILL": 9, "usr1": 10, "15": 15, "0": 0,
		"RTMIN": 34, "SIGRTMIN+3": 37, "rtmin+30": 64, "RTMAX": 64, "SIGRTMAX-2": 62, "RTMAX-30": 34,
	} {
		if got, err := parseSignal(in); err != nil || int(got) != want {
			t.Errorf("parseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"FLY", "65", "-1", "RTMIN+31", "RTMAX-31", "RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN+x", "RTMINX"} {
		if got, err := parseSignal(in); err == nil {
			t.Errorf("parseSignal(%q) = %d, want an error", in, got)
		}
	}
}

// checkpoint and restore say what is missing, whatever flags an engine passes them, and fail
// --help too, which podman runs to learn whether a runtime can checkpoint.
func TestCheckpointAndRestoreSaySo(t *testing.T) {
	needBinaries(t)
	if r := contain(t, "", "checkpoint", "--help"); r.code == 0 {
		t.Errorf("checkpoint --help: exit 0, %q", r.stdout)
	}
	for _, verb := range []string{"checkpoint", "restore"} {
		r := contain(t, "", verb, "--image-path", "/tmp/x", "--leave-running", "someid")
		if r.code == 0 || !strings.Contains(r.stderr, verb+": contain has no checkpoint and restore") {
			t.Errorf("%s: exit %d, %q", verb, r.code, r.stderr)
		}
	}
}

// A user other than root is told that contain needs root, before anything fails on the way;
// help and version work for anyone.
func TestVerbsNeedRoot(t *testing.T) {
	needContainer(t)
	dir, err := os.MkdirTemp("", "contain-nonroot-") // 0755: nobody must reach the binary
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "contain")
	data, err := os.ReadFile(containBin)
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	asNobody := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{{"run", "--", "true"}, {"list"}, {"delete", "x"}} {
		if out, err := asNobody(args...); err == nil || !strings.Contains(out, args[0]+" needs root") {
			t.Errorf("contain %s as nobody: %v, %q; want a failure that says it needs root", strings.Join(args, " "), err, out)
		}
	}
	for _, args := range [][]string{{"run", "--help"}, {"version"}, {"spec", "--help"}} {
		if out, err := asNobody(args...); err != nil {
			t.Errorf("contain %s as nobody: %v, %q; want it to work", strings.Join(args, " "), err, out)
		}
	}
}

// Sizes as runc's update and docker take them (1024-based units, fractions, an optional
// space, "i" and "b"), and what is not a size.
func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"1024": 1024, "64M": 64 << 20, "64m": 64 << 20, "512k": 512 << 10, "512kb": 512 << 10,
		"1G": 1 << 30, "1.5g": 3 << 29, "1t": 1 << 40, "2P": 2 << 50, "64MiB": 64 << 20,
		"64 m": 64 << 20, "100b": 100, "-1": -1,
	} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0.5", "-2", "M", ".5M", "1.2.3M", "9e18", "64x", "64  M", " 64M", "64MM", "9000P", "1,5G"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
}
