package store

// Checksums: how a corrupt sync log is found before it is used.
//
// Badger keeps a CRC32 (Castagnoli) for every block of its tables (.sst)
// and for every entry of its value log (.vlog) and memtable logs (.mem), but
// checks few of them by default: table blocks never (ChecksumVerificationMode
// NoVerification), value-log entries never on read (VerifyValueChecksum
// false), and the logs only while replaying the newest one at open, where an
// entry that fails its checksum is taken for a torn write and the file is
// cut there. A flipped byte in a table therefore went unnoticed: a twin's
// key could not be found, the node took the issue for unshared and created
// it a second time at the peer.
//
// The sync log is opened with:
//
//   - ChecksumVerificationMode OnBlockRead: every table block is checked
//     when it is read from disk (a cached block once). The cost is one
//     hardware CRC32 per 4 KiB block read, which is not measurable beside
//     the read itself. OnTableRead would also check every table written by
//     a flush or a compaction, reading it again; the check at open below
//     covers the tables that were on disk, and a new table is checked
//     block by block when it is read.
//   - VerifyValueChecksum: every value read from the value log is checked.
//   - At open, before Badger replays anything and holding the directory's
//     lock as Badger does (flock), every .vlog and .mem file is read
//     through and every entry's checksum checked (verifyLogs), and every
//     block of every table (verifyTables). Only
//     the newest file of each kind may end in a torn entry (a crash in the
//     middle of a write), and only when nothing follows it; a bad entry
//     anywhere else is corruption. Badger writes each entry into the
//     mmapped file with one copy, and Go's copy of more than 256 bytes
//     stores the first 32 bytes (the entry's header) and the last 128
//     after the rest: a torn entry is either one that fails its checksum
//     with zeros after it, or a blank header with at most one entry's
//     worth of data after it and zeros after that (a node SIGKILLed
//     mid-write left one in a memtable log, and was refused at restart).
//     Badger cuts the file at the last whole entry when it opens it. The check reads the whole sync log
//     once: measured on this 2-core machine (TestVerifyCost, 110 MB, 50,000
//     twins of 2 KB), 70 ms from the page cache and 1.4 to 1.9 s from disk
//     with the machine loaded (load average 17). A home kept to the size of
//     its live twins (value-log GC) opens in well under a second.
//     Badger's own DB.VerifyChecksum and the OnTableRead mode cannot be
//     used: in v4.9.6 a failing block makes Table.VerifyChecksum
//     dereference a nil block and panic, so verifyTables reads the tables'
//     footers, indexes and blocks itself, as Badger's reader does.
//
// A sync log that fails is not opened: Open returns an error wrapping
// ErrCorrupt that names the file and, for a log, the offset. The node
// refuses to start rather than run on links it cannot read (and share an
// issue whose link it lost as a new twin, which the peer would create a
// second time); the operator restores the home from a backup. `issuemesh
// doctor` runs the same checks on a home offline.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/fb"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/klauspost/compress/snappy"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// ErrCorrupt is wrapped by the errors of Open and Verify for a sync log
// file that fails its checksums.
var ErrCorrupt = errors.New("the sync log is corrupt")

// CorruptError names a file of the sync log that fails its checksums.
type CorruptError struct {
	// File is the file's path.
	File string
	// Offset is where the first bad entry starts, for a log file (-1 for a
	// table, whose Detail names the block).
	Offset int64
	// Detail says what failed.
	Detail string
}

func (e *CorruptError) Error() string {
	at := ""
	if e.Offset >= 0 {
		at = fmt.Sprintf(" at offset %d", e.Offset)
	}
	return fmt.Sprintf("file %s is corrupt%s: %s; the node does not start on it: restore the home from a backup (issuemesh doctor checks a home)", e.File, at, e.Detail)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// logHeaderSize is the header Badger writes at the start of every .vlog and
// .mem file (key ID and IV for encryption, unused here).
const logHeaderSize = 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// verifyLogs checks every entry of the value-log and memtable-log files in
// dir and returns one error per corrupt file.
func verifyLogs(dir string) []error {
	var errs []error
	for _, ext := range []string{".vlog", ".mem"} {
		files, err := filepath.Glob(filepath.Join(dir, "*"+ext))
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s files in %s: %w", ext, dir, err))
			continue
		}
		// Badger numbers its files with zero padding: the newest sorts last.
		slices.Sort(files)
		for i, f := range files {
			if err := verifyLog(f, i == len(files)-1); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// verifyLog reads one log file through. newest says whether the file is the
// last of its kind, which may end in an entry torn by a crash. Only what
// was written is read: a log is preallocated (a .mem file to the memtable
// size, a value log left open by a crash to twice its file size), and the
// zeros after the last entry are looked at only as far as tailWindow.
func verifyLog(path string, newest bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read sync log file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read sync log file %s: %w", path, err)
	}
	r := &logReader{f: f, size: fi.Size()}
	readErr := func(err error) error { return fmt.Errorf("read sync log file %s: %w", path, err) }
	off := int64(logHeaderSize)
	for off < r.size {
		end, ok, zero, err := r.entry(off)
		if err != nil {
			return readErr(err)
		}
		if zero {
			// The unwritten rest of the file, or in the newest file an
			// entry torn by a kill: Badger writes an entry with one copy,
			// and Go's copy of more than 256 bytes stores the first 32
			// last, so a kill in the middle leaves a blank header with
			// part of the entry after it. Data that goes on further than
			// one entry can reach means the entry was damaged, not torn.
			limit := int64(0)
			if newest {
				limit = maxWrite(path)
			}
			end, err := r.dataEnd(off, limit)
			if err != nil {
				return readErr(err)
			}
			if end < 0 {
				return &CorruptError{File: path, Offset: off, Detail: "an entry is blank but data follows it"}
			}
			return nil
		}
		if !ok {
			if newest && end <= r.size {
				nz, err := r.dataAfter(end)
				if err != nil {
					return readErr(err)
				}
				if !nz {
					return nil // torn by a crash: Badger cuts it off
				}
			}
			return &CorruptError{File: path, Offset: off, Detail: "an entry fails its checksum"}
		}
		off = end
	}
	return nil
}

// tailWindow is how far past the last entry of a log the bytes must be
// zero: the next entry, had one been written, would start right there.
const tailWindow = 64 << 10

// logReader reads the entries of one log file through a window of the
// file (chunk bytes, or one entry if larger), so that small entries cost
// no system call each.
type logReader struct {
	f    *os.File
	size int64
	buf  []byte // the file's bytes from at
	at   int64
}

const chunk = 1 << 20

// read returns n bytes at off (fewer at the end of the file). They are
// valid until the next read.
func (r *logReader) read(off int64, n int) ([]byte, error) {
	n = int(min(int64(n), r.size-off))
	if n <= 0 {
		return nil, nil
	}
	if off >= r.at && off+int64(n) <= r.at+int64(len(r.buf)) {
		return r.buf[off-r.at : off-r.at+int64(n)], nil
	}
	want := int(min(int64(max(n, chunk)), r.size-off))
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	r.buf, r.at = r.buf[:want], off
	if _, err := r.f.ReadAt(r.buf, off); err != nil {
		r.buf = r.buf[:0]
		return nil, err
	}
	return r.buf[:n], nil
}

// dataAfter reports whether anything but zeros follows off, within
// tailWindow.
func (r *logReader) dataAfter(off int64) (bool, error) {
	b, err := r.read(off, tailWindow)
	if err != nil {
		return false, err
	}
	return firstNonZero(b) >= 0, nil
}

// dataEnd returns the offset after the last byte that is not zero from off
// on, where tailWindow zeros (or the end of the file) follow it, if that
// byte lies within limit bytes of off; otherwise -1.
func (r *logReader) dataEnd(off, limit int64) (int64, error) {
	end := off
	for pos := off; pos < r.size && pos < end+tailWindow; {
		b, err := r.read(pos, int(min(chunk, end+tailWindow-pos)))
		if err != nil {
			return 0, err
		}
		if i := lastNonZero(b); i >= 0 {
			end = pos + int64(i) + 1
			if end-off > limit {
				return -1, nil
			}
		}
		pos += int64(len(b))
	}
	return end, nil
}

// maxWrite is the most Badger writes to the log at path with one copy: one
// entry, its header, a key (at most 64 KiB) and a value, which in a
// memtable log is below the value threshold (at most 1 MiB) and in a value
// log at most the value-log file size (Badger refuses larger values).
func maxWrite(path string) int64 {
	value := int64(1 << 20)
	if filepath.Ext(path) == ".vlog" {
		value = Options{}.sizes().valueLogFile
	}
	return 22 + 1<<16 + value + crc32.Size
}

// entry decodes the entry at off: meta, user meta, uvarint key length,
// value length and expiry, key, value, CRC32 of all that. It returns the
// offset after the entry (the end of the file when the entry cannot be
// delimited), whether its checksum holds, and whether the entry is blank
// (a zero key length: the end of what was written).
func (r *logReader) entry(off int64) (end int64, ok, zero bool, err error) {
	const maxHeader = 22 // two bytes and three uvarints, as Badger bounds it
	h, err := r.read(off, maxHeader)
	if err != nil || len(h) < 2 {
		return r.size, false, false, err
	}
	p := 2
	var lens [3]uint64
	for i := range lens {
		v, n := binary.Uvarint(h[p:])
		if n <= 0 {
			return r.size, false, false, nil
		}
		lens[i], p = v, p+n
	}
	klen, vlen := lens[0], lens[1]
	if klen == 0 && h[0] == 0 && h[1] == 0 {
		return off, false, true, nil
	}
	if klen > 1<<16 || vlen > uint64(r.size) {
		return r.size, false, false, nil
	}
	end = off + int64(p) + int64(klen) + int64(vlen) + crc32.Size
	if end > r.size {
		return r.size, false, false, nil
	}
	e, err := r.read(off, int(end-off))
	if err != nil {
		return r.size, false, false, err
	}
	want := binary.BigEndian.Uint32(e[len(e)-crc32.Size:])
	return end, crc32.Checksum(e[:len(e)-crc32.Size], castagnoli) == want, false, nil
}

// lastNonZero returns the index of the last byte of b that is not zero, or
// -1.
func lastNonZero(b []byte) int {
	var zeros [4096]byte
	for end := len(b); end > 0; end -= len(zeros) {
		start := max(end-len(zeros), 0)
		if !bytes.Equal(b[start:end], zeros[:end-start]) {
			for i := end - 1; i >= start; i-- {
				if b[i] != 0 {
					return i
				}
			}
		}
	}
	return -1
}

// firstNonZero returns the index of the first byte of b that is not zero,
// or -1.
func firstNonZero(b []byte) int {
	var zeros [4096]byte
	for off := 0; off < len(b); off += len(zeros) {
		chunk := b[off:min(off+len(zeros), len(b))]
		if !bytes.Equal(chunk, zeros[:len(chunk)]) {
			for i, c := range chunk {
				if c != 0 {
					return off + i
				}
			}
		}
	}
	return -1
}

// verifyTables checks the index and every block of every table in dir,
// the way Badger's reader does (the footer's checksum over the index, each
// block's over its entries), and returns one error per corrupt table.
// Badger's own Table.VerifyChecksum cannot be used: in v4.9.6 it
// dereferences a nil block when a block fails, and panics.
func verifyTables(dir string, compression options.CompressionType) []error {
	files, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return []error{fmt.Errorf("list the tables in %s: %w", dir, err)}
	}
	slices.Sort(files)
	var errs []error
	for _, f := range files {
		if err := verifyTable(f, compression); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func verifyTable(path string, compression options.CompressionType) (err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read sync log table %s: %w", path, err)
	}
	bad := func(f string, a ...any) error {
		return &CorruptError{File: path, Offset: -1, Detail: fmt.Sprintf(f, a...)}
	}
	defer func() {
		// The index is checked before it is parsed; this is for a
		// flatbuffer that checks out and is still malformed.
		if r := recover(); r != nil {
			err = bad("its index cannot be read: %v", r)
		}
	}()
	// Footer: index, index length (4), checksum, checksum length (4).
	pos := len(data) - 4
	if pos < 0 {
		return bad("the file is too short for a table")
	}
	chkLen := int(binary.BigEndian.Uint32(data[pos:]))
	pos -= chkLen + 4
	if chkLen < 0 || pos < 0 {
		return bad("the footer's checksum length is %d", chkLen)
	}
	var cs pb.Checksum
	if err := proto.Unmarshal(data[pos+4:pos+4+chkLen], &cs); err != nil {
		return bad("the footer's checksum cannot be read: %v", err)
	}
	idxLen := int(binary.BigEndian.Uint32(data[pos:]))
	if idxLen < 0 || idxLen > pos {
		return bad("the index length is %d", idxLen)
	}
	index := data[pos-idxLen : pos]
	if err := y.VerifyChecksum(index, &cs); err != nil {
		return bad("the index fails its checksum")
	}
	ti := fb.GetRootAsTableIndex(index, 0)
	var ko fb.BlockOffset
	for i := range ti.OffsetsLength() {
		if !ti.Offsets(&ko, i) {
			return bad("block %d is missing from the index", i)
		}
		off, n := int(ko.Offset()), int(ko.Len())
		if off < 0 || n < 0 || off+n > pos-idxLen {
			return bad("block %d (offset %d, length %d) lies outside the file", i, off, n)
		}
		if err := verifyBlock(data[off:off+n], compression); err != nil {
			return bad("block %d at offset %d: %v", i, off, err)
		}
	}
	return nil
}

// verifyBlock checks one table block: after decompression, the entries,
// their offsets and count, then the checksum and its length (4).
func verifyBlock(b []byte, compression options.CompressionType) error {
	var err error
	switch compression {
	case options.Snappy:
		if b, err = snappy.Decode(nil, b); err != nil {
			return fmt.Errorf("it cannot be decompressed: %w", err)
		}
	case options.ZSTD:
		if b, err = y.ZSTDDecompress(nil, b); err != nil {
			return fmt.Errorf("it cannot be decompressed: %w", err)
		}
	}
	pos := len(b) - 4
	if pos < 0 {
		return errors.New("it is too short")
	}
	chkLen := int(binary.BigEndian.Uint32(b[pos:]))
	if chkLen < 0 || chkLen > pos {
		return fmt.Errorf("its checksum length is %d", chkLen)
	}
	var cs pb.Checksum
	if err := proto.Unmarshal(b[pos-chkLen:pos], &cs); err != nil {
		return fmt.Errorf("its checksum cannot be read: %w", err)
	}
	if err := y.VerifyChecksum(b[:pos-chkLen], &cs); err != nil {
		return errors.New("it fails its checksum")
	}
	return nil
}

// Verify checks every file of the sync log in dir (tables, value log,
// memtable logs) without opening it, and returns one error per corrupt
// file (each wrapping ErrCorrupt), or nil.
//
// It holds the directory's lock (Badger's own) while it reads, so that no
// other process opens the database meanwhile; if another holds it, the
// one error wraps ErrLocked.
func Verify(dir string) []error {
	// Open keeps Badger's default compression.
	return verifyFiles(dir, badger.DefaultOptions(dir).Compression)
}

// ErrLocked is wrapped by the error of Open and Verify when another process
// has the database open.
var ErrLocked = errors.New("another process is using the database")

// verifyFiles checks the files of dir under the directory's lock, which is
// released before returning: Badger takes it again at open. Reading them
// without it, a file could be cut or created under the check by a
// process opening or closing the database.
func verifyFiles(dir string, compression options.CompressionType) []error {
	d, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new home
	}
	if err != nil {
		return []error{fmt.Errorf("open %s: %w", dir, err)}
	}
	defer d.Close() // releases the lock
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return []error{fmt.Errorf("cannot lock %s: %w", dir, ErrLocked)}
		}
		return []error{fmt.Errorf("lock %s: %w", dir, err)}
	}
	return append(verifyLogs(dir), verifyTables(dir, compression)...)
}
