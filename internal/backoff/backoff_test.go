package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNextDoublesUpToMaxAndResets(t *testing.T) {
	b := New(10*time.Millisecond, 45*time.Millisecond)
	want := []time.Duration{10, 20, 40, 45, 45}
	for i, w := range want {
		w *= time.Millisecond
		if got := b.Current(); got != w {
			t.Fatalf("wait %d: current %v, want %v", i, got, w)
		}
		if d := b.Next(); d < w/2 || d > w {
			t.Fatalf("wait %d: jittered %v outside [%v, %v]", i, d, w/2, w)
		}
	}
	b.Reset()
	if got := b.Current(); got != 10*time.Millisecond {
		t.Fatalf("after reset: %v, want 10ms", got)
	}
}

func TestNewFixesBadBounds(t *testing.T) {
	for _, tc := range []struct {
		name         string
		lo, hi       time.Duration
		wantLo, want time.Duration
	}{
		{"zero min", 0, time.Second, time.Millisecond, time.Second},
		{"max below min", time.Second, time.Millisecond, time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.lo, tc.hi)
			if b.min != tc.wantLo || b.max != tc.want {
				t.Fatalf("New(%v, %v) = [%v, %v], want [%v, %v]", tc.lo, tc.hi, b.min, b.max, tc.wantLo, tc.want)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	errPass := errors.New("pass failed")
	t.Run("failures back off, success resets, idle false ends", func(t *testing.T) {
		b := New(time.Millisecond, 4*time.Millisecond)
		results := []error{errPass, errPass, errPass, nil, errPass, nil}
		var seen []time.Duration
		calls := 0
		err := Retry(context.Background(), b, func(context.Context) error {
			calls++
			return results[calls-1]
		}, func(context.Context) bool {
			return calls < len(results)
		}, func(ctx context.Context, err error, b *Backoff) bool {
			if !errors.Is(err, errPass) {
				t.Errorf("failed got %v", err)
			}
			seen = append(seen, b.Current())
			return b.Wait(ctx)
		})
		if err != nil || calls != len(results) {
			t.Fatalf("Retry = %v after %d passes, want nil after %d", err, calls, len(results))
		}
		ms := time.Millisecond
		want := []time.Duration{ms, 2 * ms, 4 * ms, ms}
		if len(seen) != len(want) {
			t.Fatalf("backoffs %v, want %v", seen, want)
		}
		for i := range want {
			if seen[i] != want[i] {
				t.Fatalf("backoffs %v, want %v", seen, want)
			}
		}
	})
	t.Run("ctx end stops the loop with nil", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		err := Retry(ctx, New(time.Hour, time.Hour), func(context.Context) error {
			cancel()
			return errPass
		}, nil, func(context.Context, error, *Backoff) bool {
			t.Error("failed called after ctx ended")
			return false
		})
		if err != nil {
			t.Fatalf("Retry = %v, want nil", err)
		}
	})
	t.Run("nil idle ends after one success", func(t *testing.T) {
		calls := 0
		_ = Retry(context.Background(), New(time.Millisecond, time.Millisecond), func(context.Context) error { calls++; return nil }, nil, nil)
		if calls != 1 {
			t.Fatalf("%d passes, want 1", calls)
		}
	})
	t.Run("OnWake waits for a signal", func(t *testing.T) {
		wake := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		done := make(chan struct{})
		go func() {
			_ = Retry(ctx, New(time.Millisecond, time.Millisecond), func(context.Context) error { calls++; return nil }, OnWake(wake), nil)
			close(done)
		}()
		wake <- struct{}{}
		wake <- struct{}{} // taken only after the first wake was
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Retry did not end with its context")
		}
		if calls < 2 {
			t.Fatalf("%d passes, want at least 2 (start and one wake)", calls)
		}
	})
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on an ended context returned true")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep of 1ms returned false")
	}
}
