// Package e2e drives the real yunyi binary: its commands, its server on a
// real port, and its pages in headless Chromium.
package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/testclock"
)

var binary string

// TestMain builds the binary once; the browser tests then run three at
// a time (each waits mostly on its browser, its server and the 30-second
// steps of the staff's second factor), after the others, which run alone.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "3")
	}
	dir, err := os.MkdirTemp("", "yunyi-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "yunyi")
	out, err := exec.Command("go", "build", "-o", binary, "../cmd/yunyi").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build yunyi: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// trackSources stats every source file the binary is built from, while the
// tests run: go test then knows what this package's result depends on (it
// builds the binary with an external command it cannot see into), and a
// change to the server's code or templates runs these tests again instead
// of reusing a cached pass.
var trackSources = sync.OnceFunc(func() {
	filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "docs" || name == "e2e") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".html", ".js", ".css", ".sql", ".tsv", ".txt", ".json", ".mod", ".sum":
			os.Stat(path)
		}
		return nil
	})
})

// yunyi runs a command of the binary in dir and returns its output.
func yunyi(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	trackSources()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// server is a running `yunyi serve`.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	URL    string
	mu     sync.Mutex
	output strings.Builder
	done   chan error
	Ready  time.Duration // from start to the first 200 of /readyz
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startServer starts the binary and waits until /readyz answers.
func startServer(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	trackSources()
	start := time.Now()
	// The server runs on the tests' clock (testclock), the browser on the
	// real one: the server decides, as it must for a phone whose clock is off.
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--now", testclock.Start().Format(time.RFC3339)}, args...)...)
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, done: make(chan error, 1)}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.output.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				urlc <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() { s.stop() })
	select {
	case s.URL = <-urlc:
		serverStarts.Store(s.URL, start) // its clock (staff_test.go)
	case <-time.After(90 * time.Second): // the demo's load on a busy machine
		t.Fatalf("server did not start:\n%s", s.Output())
	}
	for {
		res, err := http.Get(s.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("not ready:\n%s", s.Output())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Ready = time.Since(start)
	return s
}

func (s *server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.output.String()
}

// stop sends SIGTERM and returns the exit error.
func (s *server) stop() error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		return fmt.Errorf("server did not stop on SIGTERM")
	}
}

type ctxT = context.Context

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
