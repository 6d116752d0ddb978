package rootfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containkit/contain/internal/testenv"
)

// defaultIn points CONTAIN_ROOTFS at a fresh temp dir and returns it.
func defaultIn(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	t.Setenv("CONTAIN_ROOTFS", dir)
	return dir
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("CONTAIN_ROOTFS", "")
	if got := DefaultDir(); got != "/var/lib/contain/rootfs" {
		t.Errorf("DefaultDir() = %q without CONTAIN_ROOTFS", got)
	}
	for _, tc := range []struct{ env, want string }{
		{"/somewhere/else", "/somewhere/else"},
		{"/somewhere/else/", "/somewhere/else"}, // a build beside it, not inside it
		{"/somewhere//else/.", "/somewhere/else"},
	} {
		t.Setenv("CONTAIN_ROOTFS", tc.env)
		if got := DefaultDir(); got != tc.want {
			t.Errorf("DefaultDir() = %q with CONTAIN_ROOTFS=%s, want %q", got, tc.env, tc.want)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTAIN_ROOTFS", "rel/rootfs")
	if got, want := DefaultDir(), filepath.Join(wd, "rel/rootfs"); got != want {
		t.Errorf("DefaultDir() = %q with CONTAIN_ROOTFS=rel/rootfs, want %q", got, want)
	}
}

// A CONTAIN_ROOTFS with a trailing slash builds: the temporary tree used to go inside the
// target, which the final rename then could not replace.
func TestEnsureDefaultWithATrailingSlash(t *testing.T) {
	dir := defaultIn(t)
	t.Setenv("CONTAIN_ROOTFS", dir+"/")
	got, err := EnsureDefault(fakeProbe(t, t.TempDir(), "probe", false, ""), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("EnsureDefault with %s/: %v", dir, err)
	}
	if got != dir {
		t.Errorf("EnsureDefault = %q, want %q", got, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerName)); err != nil {
		t.Errorf("no complete tree: %v", err)
	}
}

func TestEnsureDefaultBuildsOnce(t *testing.T) {
	want := defaultIn(t)
	probe := fakeProbe(t, t.TempDir(), "probe", false, "")
	var log bytes.Buffer
	dir, err := EnsureDefault(probe, &log)
	if err != nil {
		t.Fatal(err)
	}
	if dir != want {
		t.Errorf("EnsureDefault = %q, want %q", dir, want)
	}
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "contain: building the default rootfs in "+want+" from ") {
		t.Errorf("log = %q, want one line saying it builds", log.String())
	}
	checkBase(t, dir, probe)
	if got := readFile(t, filepath.Join(dir, MarkerName)); got != markerContent {
		t.Errorf("marker = %q, want %q", got, markerContent)
	}
	log.Reset()
	if _, err := EnsureDefault(probe, &log); err != nil {
		t.Fatal(err)
	}
	if log.Len() != 0 {
		t.Errorf("second EnsureDefault logged %q, want nothing", log.String())
	}
	if got := names(t, filepath.Dir(dir)); len(got) != 1 {
		t.Errorf("temporary trees left next to the rootfs: %v", got)
	}
}

func TestEnsureDefaultRefreshesProbe(t *testing.T) {
	defaultIn(t)
	probes := t.TempDir()
	old := fakeProbe(t, probes, "old", false, "old")
	dir, err := EnsureDefault(old, nil)
	if err != nil {
		t.Fatal(err)
	}
	newer := fakeProbe(t, probes, "new", false, "newer")
	var log bytes.Buffer
	if _, err := EnsureDefault(newer, &log); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(dir, "bin/probe")) != readFile(t, newer) {
		t.Error("bin/probe was not refreshed")
	}
	if log.Len() != 0 {
		t.Errorf("refreshing the probe logged %q, want nothing", log.String())
	}
	for _, name := range names(t, filepath.Join(dir, "bin")) {
		if strings.Contains(name, ".tmp-") {
			t.Errorf("temporary file %s left in bin", name)
		}
	}
}

func TestEnsureDefaultConcurrentFirstUse(t *testing.T) {
	want := defaultIn(t)
	probe := fakeProbe(t, t.TempDir(), "probe", false, "")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	logs := make([]bytes.Buffer, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = EnsureDefault(probe, &logs[i])
		}()
	}
	wg.Wait()
	t.Logf("builds: %q %q", logs[0].String(), logs[1].String())
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := names(t, filepath.Dir(want)); len(got) != 1 || got[0] != "rootfs" {
		t.Errorf("next to the rootfs: %v, want only rootfs", got)
	}
	checkBase(t, want, probe)
}

func TestEnsureDefaultRebuildsStaleTree(t *testing.T) {
	dir := defaultIn(t)
	if err := os.MkdirAll(filepath.Join(dir, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, MarkerName), []byte("contain-rootfs 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := EnsureDefault(fakeProbe(t, t.TempDir(), "probe", false, ""), &log); err != nil {
		t.Fatal(err)
	}
	if strings.Count(log.String(), "\n") != 1 || !strings.Contains(log.String(), "(rebuilt: an older contain built the one there") {
		t.Errorf("log = %q, want one line that says it rebuilds", log.String())
	}
	if _, err := os.Lstat(filepath.Join(dir, "old")); err == nil {
		t.Error("the stale tree is still in place")
	}
	if got := names(t, filepath.Dir(dir)); len(got) != 1 {
		t.Errorf("next to the rootfs: %v, want only rootfs", got)
	}
}

func TestEnsureDefaultRefusesForeignTree(t *testing.T) {
	dir := defaultIn(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mine"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := EnsureDefault(fakeProbe(t, t.TempDir(), "probe", false, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "not made by contain") {
		t.Fatalf("EnsureDefault error = %v, want a refusal", err)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("EnsureDefault changed a tree it did not make: %v", got)
	}
}

func TestFindProbeFromEnv(t *testing.T) {
	probe := fakeProbe(t, t.TempDir(), "probe", false, "")
	t.Setenv("CONTAIN_PROBE", probe)
	if got, err := FindProbe(); err != nil || got != probe {
		t.Errorf("FindProbe() = %q, %v; want %q", got, err, probe)
	}
	t.Setenv("CONTAIN_PROBE", filepath.Join(t.TempDir(), "missing"))
	if _, err := FindProbe(); err == nil || !strings.Contains(err.Error(), "run 'make build' or set CONTAIN_PROBE") {
		t.Errorf("FindProbe() error = %v, want the hint", err)
	}
}

func TestModuleRootAbove(t *testing.T) {
	base := t.TempDir()
	deep := filepath.Join(base, "a", "b")
	other := filepath.Join(base, "a", "other")
	for _, d := range []string{deep, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(base, "go.mod"), []byte("// root\nmodule github.com/containkit/contain\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644)
	if got := moduleRootAbove(deep); got != base {
		t.Errorf("moduleRootAbove(%s) = %q, want %q", deep, got, base)
	}
	if got := moduleRootAbove(other); got != base {
		t.Errorf("moduleRootAbove(%s) = %q, want %q (another module's go.mod is skipped)", other, got, base)
	}
}

func TestBuildProbe(t *testing.T) {
	// Reuse the warm build cache: a cold one would compile the runtime (slow).
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	gocache := strings.TrimSpace(string(out))
	if err != nil || !writable(gocache) {
		testenv.Skip(t, "no go toolchain with a writable build cache to build a probe with")
	}
	t.Setenv("GOCACHE", gocache)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "cmd", "probe"), 0o755)
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module github.com/containkit/contain\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(root, "cmd", "probe", "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	got, err := buildProbe(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "contain", "probe"); got != want {
		t.Errorf("buildProbe = %q, want %q", got, want)
	}
	if static, err := IsStatic(got); err != nil || !static {
		t.Errorf("built probe static = %v, %v; want a static binary", static, err)
	}
}

// writable reports whether a file can be created in dir.
func writable(dir string) bool {
	if dir == "" || os.MkdirAll(dir, 0o755) != nil {
		return false
	}
	f, err := os.CreateTemp(dir, "rootfs-test-")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// sameContent decides whether the rootfs's /bin/probe is refreshed: a difference anywhere,
// one past a 64 KB read, or in length alone, must count.
func TestSameContent(t *testing.T) {
	big := bytes.Repeat([]byte("probe"), 30000) // 150000 bytes: three reads
	lastByte := bytes.Clone(big)
	lastByte[len(lastByte)-1] = 'X'
	for _, tc := range []struct {
		name string
		a, b []byte
		want bool
	}{
		{"both empty", nil, nil, true},
		{"same", big, bytes.Clone(big), true},
		{"last byte differs", big, lastByte, false},
		{"b is a prefix of a", big, big[:len(big)-1], false},
		{"a is a prefix of b", big[:64<<10], big, false},
		{"empty against some", nil, []byte("x"), false},
	} {
		got, err := sameContent(bytes.NewReader(tc.a), bytes.NewReader(tc.b))
		if err != nil || got != tc.want {
			t.Errorf("%s: sameContent = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// Only root may enter the default rootfs's parent: made 0700, and closed where an older
// contain left it 0755. Another directory's parent is left alone.
func TestDefaultParentIsClosed(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "lib-contain")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := closeParent(filepath.Join(parent, "rootfs"), parent); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(parent); st.Mode().Perm() != 0o700 {
		t.Errorf("the default rootfs's parent: %v, want 0700", st.Mode().Perm())
	}
	other := t.TempDir()
	os.Chmod(other, 0o755)
	if err := closeParent(filepath.Join(other, "rootfs"), parent); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(other); st.Mode().Perm() != 0o755 {
		t.Errorf("another rootfs's parent changed: %v", st.Mode().Perm())
	}
}

// EnsureDefault itself closes the default parent (0755 from an older contain) and sweeps a
// killed build's tree: the helpers above are only worth what their callers make of them.
func TestEnsureDefaultClosesTheParentAndSweeps(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "lib-contain")
	stale := filepath.Join(parent, ".rootfs.tmp-killed")
	if err := os.MkdirAll(filepath.Join(stale, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	was := defaultParent
	defaultParent = parent
	t.Cleanup(func() { defaultParent = was })
	t.Setenv("CONTAIN_ROOTFS", "")
	dir, err := EnsureDefault(fakeProbe(t, t.TempDir(), "probe", false, ""), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(parent, "rootfs"); dir != want {
		t.Errorf("EnsureDefault = %q, want %q", dir, want)
	}
	if st, _ := os.Stat(parent); st.Mode().Perm() != 0o700 {
		t.Errorf("the default parent after EnsureDefault: %v, want 0700", st.Mode().Perm())
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the killed build's tree is still there")
	}
}

// A build killed part-way leaves its temporary tree, which the next build removes once it has
// not changed for staleBuild; a build under way, and any other name, are left alone.
func TestSweepStaleBuilds(t *testing.T) {
	parent := t.TempDir()
	now := time.Now()
	for name, age := range map[string]time.Duration{
		".rootfs.tmp-killed": time.Hour, ".rootfs.tmp-building": time.Second,
		".other.tmp-old": time.Hour, "rootfs": time.Hour,
	} {
		dir := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	sweepStaleBuilds(parent, "rootfs", now)
	for name, want := range map[string]bool{".rootfs.tmp-killed": false, ".rootfs.tmp-building": true, ".other.tmp-old": true, "rootfs": true} {
		if _, err := os.Stat(filepath.Join(parent, name)); (err == nil) != want {
			t.Errorf("%s: there %v, want %v", name, err == nil, want)
		}
	}
}

// Without root's rights on it (a workshop step run without sudo), the default rootfs's error
// says to use sudo.
func TestEnsureDefaultSaysSudoWhenRefused(t *testing.T) {
	testenv.RequireRoot(t) // to make a directory of another user's
	parent := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(parent, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTAIN_ROOTFS", filepath.Join(parent, "rootfs"))
	var err error
	asOwnerOnly(t, func() { _, err = EnsureDefault(fakeProbe(t, t.TempDir(), "probe", false, ""), &bytes.Buffer{}) })
	if err == nil || !strings.Contains(err.Error(), "permission denied (it is root's: run with sudo)") {
		t.Errorf("EnsureDefault without the rights: %v, want a hint to run with sudo", err)
	}
}
