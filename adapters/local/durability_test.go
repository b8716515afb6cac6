package local

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
)

const childDirEnv = "ISSUEMESH_LOCAL_TEST_CHILD_DIR"

// TestDurableAcrossKill runs a writer in a child process with SyncWrites on,
// kills it with SIGKILL in the middle of its writes, and checks that every
// write the child saw acknowledged is in the reopened database, with keys
// still contiguous.
func TestDurableAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]string{} // key -> summary
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(wait)
	for len(acked) < 300 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("child ended early after %d acks", len(acked))
			}
			if f := strings.Fields(l); len(f) == 3 && f[0] == "ACK" {
				acked[f[1]] = f[2]
			}
		case <-timeout:
			t.Fatalf("only %d acks from the child", len(acked))
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for l := range lines { // acks written before the kill count too
		if f := strings.Fields(l); len(f) == 3 && f[0] == "ACK" {
			acked[f[1]] = f[2]
		}
	}
	_ = cmd.Wait()

	tr := openTest(t, dir, Options{SyncWrites: true})
	list, err := tr.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, is := range list {
		if want := fmt.Sprintf("LOCAL-%d", i+1); is.Key != want {
			t.Fatalf("issue %d has key %s, want %s: keys are not contiguous", i, is.Key, want)
		}
	}
	for key, summary := range acked {
		is, err := tr.Get(context.Background(), key)
		if err != nil {
			t.Errorf("acknowledged %s lost: %v", key, err)
		} else if is.Summary != summary && is.Summary != summary+"-u" { // the update may be written but not yet acknowledged
			t.Errorf("%s summary %q, acknowledged %q", key, is.Summary, summary)
		}
	}
	t.Logf("%d issues acknowledged before the kill, %d found", len(acked), len(list))
	if next := create(t, tr, adapters.Issue{Summary: "after"}); next.Key != fmt.Sprintf("LOCAL-%d", len(list)+1) {
		t.Errorf("next key %s after %d issues", next.Key, len(list))
	}
}

// TestChildWriter is the child of TestDurableAcrossKill: 8 goroutines create
// and update issues until the process is killed, printing each
// acknowledged write.
func TestChildWriter(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("child process of TestDurableAcrossKill")
	}
	tr, err := Open(dir, Options{SyncWrites: true, Logger: quiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	stop := time.After(30 * time.Second) // in case the parent never kills us
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				summary := fmt.Sprintf("w%d-%d", w, i)
				is, err := tr.Create(ctx, adapters.Issue{Summary: summary})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				fmt.Printf("ACK %s %s\n", is.Key, summary)
				summary += "-u"
				if is, err = tr.Update(ctx, is.Key, adapters.Patch{Summary: &summary}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				fmt.Printf("ACK %s %s\n", is.Key, summary)
			}
		})
	}
	wg.Wait()
	_ = tr.Close()
}
