package local

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// badgerOptions sizes Badger for an embedded issue tracker: a working set of
// megabytes (10,000 issues of 1 KiB are 10 MiB), one writer, a process that
// must idle well under 80 MB RSS alongside libp2p and the sync log. Only
// what the defaults get wrong for that is changed:
//
//   - MemTableSize 8 MiB (default 64 MiB) and NumMemtables 2 (default 5):
//     each memtable's arena is allocated whole, so the defaults can hold
//     up to 320 MiB; here at most 16 MiB. One transaction may carry 15% of a
//     memtable (1.2 MiB): the writer splits batches that outgrow it.
//   - BlockCacheSize 8 MiB (default 256 MiB): the cache of decompressed
//     table blocks; the whole tracker usually fits in it.
//   - ValueLogFileSize 64 MiB (default 1 GiB): values stay in the LSM tree
//     up to the default ValueThreshold (1 MiB), so the value log only
//     receives very large issues; small files keep its garbage collection
//     cheap.
//   - NumCompactors 2 (default 4, the minimum that works).
//   - DetectConflicts off: all writes come from one goroutine, so there is
//     nothing to detect.
//   - Logger: Badger's errors and warnings go to slog at their level, its
//     info and debug chatter at debug.
func badgerOptions(dir string, syncWrites bool, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(syncWrites).
		WithLogger(badgerLogger{log: log.With("component", "badger")}).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(8 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(false)
}

// badgerLogger routes Badger's printf-style logger to slog.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) logf(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l badgerLogger) Errorf(f string, a ...any)   { l.logf(slog.LevelError, f, a...) }
func (l badgerLogger) Warningf(f string, a ...any) { l.logf(slog.LevelWarn, f, a...) }
func (l badgerLogger) Infof(f string, a ...any)    { l.logf(slog.LevelDebug, f, a...) }
func (l badgerLogger) Debugf(f string, a ...any)   { l.logf(slog.LevelDebug, f, a...) }
