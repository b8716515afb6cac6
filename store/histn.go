package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The number of a twin's newest history record lives under its own key,
// hn/<twin> (8 bytes, big-endian), not only in the twin record: recording
// an ack adds a history line to a twin whose links do not change, and with
// the counter in the twin record every ack rewrote the whole twin (about
// 2.6 KiB with a 1 KiB description: two replicas per link) where 8 bytes
// and the line itself do.
//
// Twin.HistN is still written with the twin and read as the starting point
// of a twin that has no hn/ key yet: a home written before the key existed
// goes on numbering its history where it stopped, with no migration pass.
// Once hn/ exists it wins, because a twin stored less often than its
// history grows holds an older count.

func historyCountKey(twin string) string { return "hn/" + twin }

// historyCount returns the number of the twin's newest history record.
func (t *Tx) historyCount(tw *Twin) (uint64, error) {
	b, err := t.get(historyCountKey(tw.ID))
	switch {
	case errors.Is(err, ErrNotFound):
		return tw.HistN, nil
	case err != nil:
		return 0, fmt.Errorf("history count of twin %s: %w", tw.ID, err)
	case len(b) != 8:
		return 0, fmt.Errorf("history count of twin %s: %d bytes stored, want 8", tw.ID, len(b))
	}
	return max(binary.BigEndian.Uint64(b), tw.HistN), nil
}

// setHistoryCount stores n as the twin's newest record number, and in tw
// for whoever stores the twin next.
func (t *Tx) setHistoryCount(tw *Twin, n uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	t.set(historyCountKey(tw.ID), b[:])
	tw.HistN = n
}
