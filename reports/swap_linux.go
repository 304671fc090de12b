//go:build linux

package reports

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// swapIn puts the folder tmp in place of dst. On Linux an existing dst is
// exchanged with tmp in one renameat2(RENAME_EXCHANGE), so readers see the
// old or the new site, never none; the old one is then removed. File
// systems without RENAME_EXCHANGE fall back to two renames.
func swapIn(tmp, dst string) error {
	if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
		return os.Rename(tmp, dst)
	}
	if err := checkDir(dst); err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE); err == nil {
		return os.RemoveAll(tmp) // tmp now holds the old site
	}
	return swapByRenames(tmp, dst)
}
