package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

func TestNewFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "sub")
	path := filepath.Join(dir, "tw.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Save(context.Background(), []finding.Finding{storetest.Sample(1, "EKS-A", finding.High)}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(name), err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s created with mode %v, want 0600", filepath.Base(name), m)
		}
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, _ := os.Stat(d)
		if m := fi.Mode().Perm(); m != 0o700 {
			t.Errorf("folder %s created with mode %v, want 0700", d, m)
		}
	}
}

func TestPathsArePaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, name := range []string{"h#x.db", "p%41.db", "q?mode=ro.db", "sp ace.db", "x%2Fy.db"} {
		s, err := sqlite.Open(name, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := s.Save(context.Background(), []finding.Finding{storetest.Sample(1, "EKS-A", finding.High)}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: the database is not at that path: %v", name, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, wrong := range []string{"h", "pA.db", "q", "x/y.db"} {
		if _, err := os.Stat(filepath.Join(dir, wrong)); err == nil {
			t.Errorf("a file %q was created (folder holds %v)", wrong, names)
		}
	}
}

func TestRefusesForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('EXAMPLE')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	_, err = sqlite.Open(path, nil)
	if err == nil || !strings.Contains(err.Error(), "not a trailwatch database") || !strings.Contains(err.Error(), "customers") {
		t.Fatalf("opening another program's database: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("the foreign database was changed (tables added or switched to WAL)")
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Error("the foreign database was switched to WAL")
	}
	if _, err := sqlite.Open(path, nil, sqlite.ReadOnly()); err == nil || !strings.Contains(err.Error(), "not a trailwatch database") {
		t.Errorf("read-only: %v", err)
	}
}

func TestRejectsNonSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	text := strings.Repeat("these are notes, not a database. ", 10)
	os.WriteFile(path, []byte(text), 0o600)
	_, err := sqlite.Open(path, nil)
	if err == nil || !strings.Contains(err.Error(), "not a trailwatch database: not an SQLite file") {
		t.Errorf("opening a text file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != text {
		t.Error("the text file was changed")
	}
}

func TestReadOnlyOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tw.db")
	if _, err := sqlite.Open(path, nil, sqlite.ReadOnly()); err == nil || !strings.Contains(err.Error(), "no database file") {
		t.Errorf("read-only open of a missing file: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a read-only open created the file")
	}
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := storetest.Sample(1, "EKS-A", finding.High)
	s.Save(context.Background(), []finding.Finding{f})
	s.Close()
	r, err := sqlite.Open(path, nil, sqlite.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Findings(context.Background(), store.Filter{})
	if err != nil || len(got) != 1 {
		t.Errorf("read-only list: %d findings, %v", len(got), err)
	}
	if _, err := r.Save(context.Background(), []finding.Finding{storetest.Sample(2, "EKS-A", finding.High)}); err == nil {
		t.Error("a read-only store saved")
	}
}

// Permission problems need a user the file system refuses: as root, the
// cases run in a child process as nobody.
func TestPermissionProblems(t *testing.T) {
	base, err := os.MkdirTemp("", "trailwatch-perm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	// The child runs this test binary, which must be where it may read it.
	bin := filepath.Join(base, "sqlite.test")
	if b, err := os.ReadFile(os.Args[0]); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	mk := func(name string, dirMode, fileMode os.FileMode) string {
		dir := filepath.Join(base, name)
		os.Mkdir(dir, 0o755)
		path := filepath.Join(dir, "tw.db")
		s, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Save(context.Background(), []finding.Finding{storetest.Sample(1, "EKS-A", finding.High)})
		s.Close()
		chownForChild(t, dir)
		chownForChild(t, path)
		os.Chmod(path, fileMode)
		os.Chmod(dir, dirMode)
		return path
	}
	for _, tc := range []struct {
		name              string
		dirMode, fileMode os.FileMode
		readOnly          bool
		want              string // "ok" or a text the error must hold
	}{
		// The probe: a database file the user may not write.
		{"read-only file, read-only open", 0o755, 0o444, true, "ok 1"},
		{"read-only file, writing open", 0o755, 0o444, false, "permission denied: the database file is read-only for this user"},
		{"unreadable file", 0o755, 0o000, true, "permission denied: cannot read the database file"},
		{"read-only folder, writing open", 0o555, 0o644, false, "permission denied: the folder"},
		{"read-only folder, read-only open", 0o555, 0o444, true, "ok 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := mk(strings.ReplaceAll(tc.name, " ", "-"), tc.dirMode, tc.fileMode)
			out := openAsChild(t, bin, path, tc.readOnly)
			if !strings.Contains(out, tc.want) {
				t.Errorf("got %q, want %q", out, tc.want)
			}
			if strings.Contains(out, "not a trailwatch database") {
				t.Errorf("a permission problem reported as a foreign database: %s", out)
			}
		})
	}
}

// childUID is the user the permission cases run as when the tests run as
// root.
const childUID = 65534

func chownForChild(t *testing.T, path string) {
	if os.Geteuid() == 0 {
		if err := os.Chown(path, childUID, childUID); err != nil {
			t.Fatal(err)
		}
	}
}

// openAsChild opens path in a child process (as nobody when root) and
// returns "ok N" with the number of findings, or the error.
func openAsChild(t *testing.T, bin, path string, readOnly bool) string {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^TestOpenChild$")
	cmd.Env = append(os.Environ(), "TW_OPEN_CHILD="+path, fmt.Sprintf("TW_OPEN_READONLY=%v", readOnly))
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: childUID, Gid: childUID}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.Contains(string(out), "RESULT:") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, res, _ := strings.Cut(string(out), "RESULT:")
	res, _, _ = strings.Cut(res, "\n")
	return res
}

// TestOpenChild is the child of openAsChild; it does nothing otherwise.
func TestOpenChild(t *testing.T) {
	path := os.Getenv("TW_OPEN_CHILD")
	if path == "" {
		t.Skip("runs only as the child of TestPermissionProblems")
	}
	var opts []sqlite.Option
	if os.Getenv("TW_OPEN_READONLY") == "true" {
		opts = append(opts, sqlite.ReadOnly())
	}
	s, err := sqlite.Open(path, nil, opts...)
	if err != nil {
		fmt.Printf("RESULT:%v\n", err)
		return
	}
	defer s.Close()
	fs, err := s.Findings(context.Background(), store.Filter{})
	if err != nil {
		fmt.Printf("RESULT:list: %v\n", err)
		return
	}
	fmt.Printf("RESULT:ok %d\n", len(fs))
}

func TestSecondRunIsRefusedWithTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tw.db")
	first, err := sqlite.Open(path, nil, sqlite.Exclusive())
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(path, nil, sqlite.Exclusive())
	host, _ := os.Hostname()
	if err == nil || !strings.Contains(err.Error(), "in use by another trailwatch run") ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d on %s since ", os.Getpid(), host)) {
		t.Errorf("second run: %v", err)
	}
	// Commands that are not run still open it.
	other, err := sqlite.Open(path, nil)
	if err != nil {
		t.Errorf("a plain open while run holds the lock: %v", err)
	} else {
		other.Close()
	}
	first.Close()
	again, err := sqlite.Open(path, nil, sqlite.Exclusive())
	if err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
	again.Close()
}

func TestRunLockDiesWithItsProcess(t *testing.T) {
	// A child takes the lock and is killed without closing anything: the
	// lock file stays, the lock does not.
	path := filepath.Join(t.TempDir(), "tw.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$")
	cmd.Env = append(os.Environ(), "TW_LOCK_CHILD="+path)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := stdout.Read(buf) // "locked" once the child holds it
	if !strings.Contains(string(buf[:n]), "locked") {
		cmd.Process.Kill()
		t.Fatalf("child: %q", buf[:n])
	}
	_, err := sqlite.Open(path, nil, sqlite.Exclusive())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Errorf("while the child holds it: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(path + "-run.lock"); err != nil {
		t.Fatalf("lock file: %v", err)
	}
	s, err := sqlite.Open(path, nil, sqlite.Exclusive())
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	s.Close()
}

// TestLockChild is the child of TestRunLockDiesWithItsProcess.
func TestLockChild(t *testing.T) {
	path := os.Getenv("TW_LOCK_CHILD")
	if path == "" {
		t.Skip("runs only as the child of TestRunLockDiesWithItsProcess")
	}
	if _, err := sqlite.Open(path, nil, sqlite.Exclusive()); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("locked")
	select {} // until killed
}
