package main

import (
	"bytes"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// waitSampler is a wall-clock view of the sync pipeline (-waits): every
// 10 ms it takes the stacks of all goroutines and counts, for the node's
// long-lived goroutines (roles), what each is doing (states). A CPU profile
// shows where CPU goes; this shows where time goes in a pipeline that waits
// on durable commits. Roles and states are recognised by function names:
// keep the tables in step with the code they name.
type waitSampler struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples int
	counts  map[[2]string]float64
}

// roles: the first frame found in a goroutine's stack names its role.
var roles = []struct{ role, frame string }{
	{"applier worker", "node.(*Node).applyBatch.func"},
	{"applier", "node.(*Node).runApplier"},
	{"sync log writer", "store.(*Store).writer"},
	{"tracker writer", "local.(*Tracker).run"},
	{"sender", "syncproto.(*Sender).Run"},
	{"receiver", "syncproto.(*ReplicaHandler).Handle"},
	{"trigger", "node.(*Node).runTrigger"},
	{"ack sender", "syncproto.RunAcks"},
	{"ack receiver", "syncproto.(*AckHandler).Handle"},
	{"bench updater", "main.updateAll.func"},
}

// states: the first of these found anywhere in the stack names the state;
// otherwise the state is the innermost frame shown ("at F").
var states = []struct{ state, frame string }{
	{"waits for a tracker commit", "local.(*Tracker).submit"},
	{"waits for a sync log commit", "store.(*Store).Update"},
	{"waits for the twin lock", "keyedMutex).Lock"},
	{"runs finish", "node.(*Node).finish.func"},
	{"runs share", "node.(*Node).share.func"},
	{"runs receive", "node.syncLog.Receive.func"},
	{"runs recordAcks", "node.(*Node).recordAcks.func"},
	{"Badger commit (write + fsync)", "badger/v4.(*Txn).Commit"},
	{"Badger new txn (waits for in-flight commits)", "badger/v4.(*DB).NewTransaction"},
	{"msgpack", "vmihailenco/msgpack"},
	{"reads the sync log", "store.(*Store).View"},
	{"reads the tracker", "local.(*Tracker).view"},
	{"tracker computes a batch", "local.(*Tracker).writeBatch"},
	{"reads the stream", "replica.ReadFrame"},
	{"writes the stream", "bufio.(*Writer).Flush"},
}

func startWaits() *waitSampler {
	w := &waitSampler{stop: make(chan struct{}), done: make(chan struct{}), counts: map[[2]string]float64{}}
	go func() {
		defer close(w.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var b bytes.Buffer
		for {
			b.Reset()
			if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err == nil {
				w.add(b.String())
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// add counts one goroutine profile in its debug=1 text form: groups of
// identical stacks, "N @ pcs" then one "#\tpc\tfunc+off\tfile:line" line
// per frame (runtime frames omitted).
func (w *waitSampler) add(profile string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	for _, g := range strings.Split(profile, "\n\n") {
		lines := strings.Split(g, "\n")
		head := strings.Fields(lines[0])
		if len(lines) < 2 || len(head) == 0 {
			continue
		}
		n, err := strconv.Atoi(head[0])
		if err != nil {
			continue
		}
		role := ""
		for _, r := range roles {
			if strings.Contains(g, r.frame) {
				role = r.role
				break
			}
		}
		if role == "" {
			continue
		}
		state := ""
		for _, s := range states {
			if strings.Contains(g, s.frame) {
				state = s.state
				break
			}
		}
		if state == "" {
			state = "other"
			if f := strings.Fields(lines[1]); len(f) >= 3 {
				fn := f[2]
				if i := strings.LastIndex(fn, "/"); i >= 0 {
					fn = fn[i+1:]
				}
				if i := strings.LastIndex(fn, "+"); i >= 0 {
					fn = fn[:i]
				}
				state = "at " + fn
			}
		}
		w.counts[[2]string{role, state}] += float64(n)
	}
}

// end stops sampling and prints the average number of goroutines of each
// role in each state (those under 0.05 left out).
func (w *waitSampler) end(out io.Writer, title string) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	type row struct {
		role, state string
		avg         float64
	}
	var rows []row
	for k, c := range w.counts {
		if avg := c / float64(max(1, w.samples)); avg >= 0.05 {
			rows = append(rows, row{k[0], k[1], avg})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if a.role != b.role {
			return strings.Compare(a.role, b.role)
		}
		return -cmpFloat(a.avg, b.avg)
	})
	fmt.Fprintf(out, "\nwaits during %s: goroutines of each role by state, averaged over %d samples (all nodes of the process together)\n", title, w.samples)
	for _, r := range rows {
		fmt.Fprintf(out, "  %-16s %6.2f  %s\n", r.role, r.avg, r.state)
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
