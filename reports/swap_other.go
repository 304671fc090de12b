//go:build !linux

package reports

import (
	"errors"
	"os"
)

// swapIn puts the folder tmp in place of dst with two renames: dst aside,
// tmp in; if the second fails the old dst is put back.
func swapIn(tmp, dst string) error {
	if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
		return os.Rename(tmp, dst)
	}
	if err := checkDir(dst); err != nil {
		return err
	}
	return swapByRenames(tmp, dst)
}
