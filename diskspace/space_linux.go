package diskspace

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

var errNoSpace = syscall.ENOSPC

// freeBytes is the space an unprivileged process may still use on the
// filesystem of path.
func freeBytes(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// backFile makes sure the bytes from the start of the file to n past the
// end of what Badger wrote (dataEnd), within the file's size, are backed by
// blocks. done is how far an earlier call backed it (only the rest is
// allocated now); the new extent is returned.
func backFile(path string, n, done int64) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return done, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return done, fmt.Errorf("stat %s: %w", path, err)
	}
	end, err := dataEnd(f, fi.Size())
	if err != nil {
		return done, err
	}
	want := min(fi.Size(), end+n)
	if want <= done {
		return done, nil // still n ahead of the writes
	}
	for {
		err = syscall.Fallocate(int(f.Fd()), 0, done, want-done)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EOPNOTSUPP) {
		return want, nil // the filesystem cannot: statfs alone guards it
	}
	if err != nil {
		return done, fmt.Errorf("reserve %s of %s: %w", Size(want), path, err)
	}
	return want, nil
}

// dataEnd finds where Badger's writes into a log file end: it writes from
// the start and leaves zeros after its last entry, so the first page of
// zeros after which all are zero is found by bisection.
func dataEnd(f *os.File, size int64) (int64, error) {
	const page = 4096
	buf := make([]byte, page)
	zero := func(i int64) (bool, error) {
		k, err := f.ReadAt(buf, i*page)
		if err != nil && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("read %s: %w", f.Name(), err)
		}
		for _, c := range buf[:k] {
			if c != 0 {
				return false, nil
			}
		}
		return true, nil
	}
	lo, hi := int64(0), (size+page-1)/page
	for lo < hi {
		mid := lo + (hi-lo)/2
		z, err := zero(mid)
		if err != nil {
			return 0, err
		}
		if z {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo * page, nil
}
