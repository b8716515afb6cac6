package api

import "testing"

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3000: "2.9 KiB", 20 << 20: "20 MiB", 64<<20 + 1: "64 MiB"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFileProgressString(t *testing.T) {
	for _, tc := range []struct {
		fp   FileProgress
		want string
	}{
		{FileProgress{Files: 1, Bytes: 1 << 20, Total: 5 << 20}, "1 file, 1.0 MiB of 5.0 MiB"},
		{FileProgress{Files: 3, Bytes: 0, Total: 40 << 20}, "3 files, 0 B of 40 MiB"},
	} {
		if got := tc.fp.String(); got != tc.want {
			t.Errorf("%+v = %q, want %q", tc.fp, got, tc.want)
		}
	}
}
