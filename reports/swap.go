package reports

import (
	"fmt"
	"os"
	"path/filepath"
)

// checkDir refuses to replace anything but a folder.
func checkDir(dst string) error {
	fi, err := os.Lstat(dst)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a folder", dst)
	}
	return nil
}

// swapByRenames moves dst aside, moves tmp to dst, and removes the old
// site; if tmp cannot be moved in, the old site is put back.
func swapByRenames(tmp, dst string) error {
	old, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".old-")
	if err != nil {
		return err
	}
	if err := os.Remove(old); err != nil {
		return err
	}
	if err := os.Rename(dst, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		if rerr := os.Rename(old, dst); rerr != nil {
			return fmt.Errorf("%w (and restoring the old site from %s failed: %v)", err, old, rerr)
		}
		return err
	}
	return os.RemoveAll(old)
}
