//go:build !linux

package realfs

import "errors"

func shutdown(dir string) error {
	return errors.New("realfs: shutdown needs Linux")
}
