package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/issuemesh/issuemesh/adapters"
	"github.com/issuemesh/issuemesh/api"
	"github.com/issuemesh/issuemesh/internal/reqcount"
)

// latency: figure 9, tracker to tracker, Redmine to RT and back, on the
// real servers (skipped, with the reason, when they are not installed).
// Node R runs on a Redmine project, node T on an RT queue, paired. An edit
// of the summary is made in one tracker (time t0) and the other is read
// every 100 ms until it shows it; the stages come from the requests each
// node made of its tracker (their start and end times, internal/reqcount)
// and the history records of the twin:
//
//   - poll wait: t0 until the source node's first request about the issue
//     (the change feed's next poll, then the read it decides on);
//   - read: the source's requests about the issue until the last before
//     the event was queued (Redmine: one issue GET; RT: ticket, history,
//     attachments);
//   - rules and log: the end of that read until the "queued" record (the
//     outgoing rules, then the event appended to the sync log, durably);
//   - network: "queued" until the destination's first request about the
//     issue (the sender, libp2p, the receiver's durable write, the
//     applier's pick-up);
//   - apply: until the "applied" record (the destination's read, its
//     write, its read back, and the finish write of the sync log);
//   - ack: "applied" until the source's "acked" record.
//
// visible is t0 until the other tracker showed the edit (polled, so up to
// 100 ms late).
func latency(ctx context.Context, e *env) (err error) {
	rounds := 6
	if e.quick {
		rounds = 4
	}
	pollEvery := time.Second
	settle := 5 * time.Second
	rc, tc := reqcount.New(), reqcount.New()
	rc.Keep()
	tc.Keep()
	rCounted, rDirect, rClean, err := openRedmine(ctx, rc, settle)
	var skip skipped
	if errors.As(err, &skip) {
		fmt.Fprintf(os.Stderr, "   latency skipped: %s\n", skip.why)
		e.add(result{"latency_skipped", 0, "", "", "skipped: " + skip.why})
		return nil
	}
	if err != nil {
		return err
	}
	defer rClean()
	tCounted, tDirect, tClean, err := openRT(ctx, tc, settle)
	if errors.As(err, &skip) {
		fmt.Fprintf(os.Stderr, "   latency skipped: %s\n", skip.why)
		e.add(result{"latency_skipped", 0, "", "", "skipped: " + skip.why})
		return nil
	}
	if err != nil {
		return err
	}
	defer tClean()
	dir, err := e.dir("latency")
	if err != nil {
		return err
	}
	r, err := startTrackerNode(dir, "r", rCounted, pollEvery, e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.stop()) }()
	t, err := startTrackerNode(dir, "t", tCounted, pollEvery, e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, t.stop()) }()
	if _, err := t.n.AddPeer(ctx, loopback(r.n), "r"); err != nil {
		return err
	}
	if _, err := r.n.AddPeer(ctx, loopback(t.n), "t"); err != nil {
		return err
	}
	is, err := rDirect.Create(ctx, adapters.Issue{Summary: "latency 0", Description: "timed", Status: "New", Priority: "High"})
	if err != nil {
		return err
	}
	rKey, tKey := is.Key, ""
	err = poll(2*time.Minute, "RT has the twin", nil, 200*time.Millisecond, func() (bool, error) {
		var v api.IssueView
		if err := r.get("/v1/issues/"+rKey, &v); err != nil {
			return false, nil
		}
		for _, tw := range v.Twins {
			if tw.Key != "" {
				tKey = tw.Key
			}
		}
		if tKey == "" {
			return false, nil
		}
		st, err := r.status()
		return err == nil && st.Pending == 0, err
	})
	if err != nil {
		return err
	}
	type side struct {
		name   string
		node   *trackerNode
		direct adapters.Tracker
		key    string
		c      *reqcount.Counter
		isPoll func(string) bool
	}
	red := side{"redmine", r, rDirect, rKey, rc, func(k string) bool { return k == "GET /issues.json" }}
	rtS := side{"rt", t, tDirect, tKey, tc, func(k string) bool { return k == "GET /REST/2.0/tickets" }}
	stages := []string{"poll_wait", "read", "rules_log", "network", "apply", "ack", "visible"}
	for _, dirn := range []struct{ src, dst side }{{red, rtS}, {rtS, red}} {
		got := map[string][]time.Duration{}
		for i := 1; i <= rounds && ctx.Err() == nil; i++ {
			time.Sleep(settle) // let the last round's echo reads pass
			want := fmt.Sprintf("latency %s %d", dirn.src.name, i)
			dirn.src.c.Take()
			dirn.dst.c.Take()
			t0 := time.Now()
			if _, err := dirn.src.direct.Update(ctx, dirn.src.key, adapters.Patch{Summary: &want}); err != nil {
				return err
			}
			err := poll(2*time.Minute, dirn.dst.name+" shows "+want, nil, 100*time.Millisecond, func() (bool, error) {
				is, err := dirn.dst.direct.Get(ctx, dirn.dst.key)
				return err == nil && is.Summary == want, nil
			})
			if err != nil {
				return err
			}
			visible := time.Since(t0)
			var queued, applied, acked time.Time
			err = poll(time.Minute, "the edit is acked", nil, 100*time.Millisecond, func() (bool, error) {
				queued = findRecord(ctx, dirn.src.node, dirn.src.key, "out", "queued", t0)
				applied = findRecord(ctx, dirn.dst.node, dirn.dst.key, "in", "applied", t0)
				acked = findRecord(ctx, dirn.src.node, dirn.src.key, "out", "acked", t0)
				return !queued.IsZero() && !applied.IsZero() && !acked.IsZero(), nil
			})
			if err != nil {
				return err
			}
			readStart, readEnd := window(dirn.src.c.Events(), dirn.src.isPoll, t0, queued)
			applyStart, _ := window(dirn.dst.c.Events(), dirn.dst.isPoll, queued, applied)
			if readStart.IsZero() || applyStart.IsZero() {
				return fmt.Errorf("round %d: no tracker request found in a stage (read %v, apply %v)", i, readStart, applyStart)
			}
			got["poll_wait"] = append(got["poll_wait"], readStart.Sub(t0))
			got["read"] = append(got["read"], readEnd.Sub(readStart))
			got["rules_log"] = append(got["rules_log"], queued.Sub(readEnd))
			got["network"] = append(got["network"], applyStart.Sub(queued))
			got["apply"] = append(got["apply"], applied.Sub(applyStart))
			got["ack"] = append(got["ack"], acked.Sub(applied))
			got["visible"] = append(got["visible"], visible)
		}
		name := dirn.src.name + "_to_" + dirn.dst.name
		for _, s := range stages {
			d := slices.Clone(got[s])
			slices.Sort(d)
			if len(d) == 0 {
				continue
			}
			note := fmt.Sprintf("median of %d edits (min %.0f, max %.0f ms); poll every %v, feed settle %v", len(d), ms(d[0]), ms(d[len(d)-1]), pollEvery, settle)
			e.add(result{"latency_" + name + "_" + s, ms(d[len(d)/2]), "ms", "", note})
		}
	}
	return nil
}

// findRecord is the time of the first history record of the issue's twin
// with that direction and outcome after t0, or zero.
func findRecord(ctx context.Context, tn *trackerNode, key, dir, what string, t0 time.Time) time.Time {
	h, err := tn.n.Backend().History(ctx, key)
	if err != nil {
		return time.Time{}
	}
	for _, rec := range h.Records {
		if rec.Dir == dir && rec.What == what && rec.Time.After(t0) {
			return rec.Time
		}
	}
	return time.Time{}
}

// window is the start of the first and the end of the last request
// (change feed polls left out) that started between from and to.
func window(evs []reqcount.Event, isPoll func(string) bool, from, to time.Time) (start, end time.Time) {
	for _, ev := range evs {
		if isPoll(ev.Key) || ev.Start.Before(from) || ev.Start.After(to) {
			continue
		}
		if start.IsZero() || ev.Start.Before(start) {
			start = ev.Start
		}
		if ev.End.After(end) && !ev.End.After(to) {
			end = ev.End
		}
	}
	if end.IsZero() {
		end = start
	}
	return start, end
}
