// Package realfs puts a real file system on a loop device for memvec's
// power-cut tests, and cuts its power: a sparse image file under
// os.TempDir, a loop device, mkfs, a mount, and Shutdown, which issues the
// ioctl of `xfs_io -x -c shutdown` (FS_IOC_SHUTDOWN without flushing the
// log). After it every operation on the mount fails with EIO, and what was
// not yet in the file system's log (dirty pages, unsynced metadata) never
// reaches the device: remounted, the file system holds what a power cut
// would have left. xfs and ext4 both implement the ioctl.
//
// It needs Linux, root, a free loop device, and mkfs.TYPE, mount, umount,
// sync and losetup on PATH; Check says what is missing. Everything New
// sets up is torn down by the test's Cleanup, even after a failure.
package realfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Check returns nil if a file system of type fstype ("xfs", "ext4") can be
// set up and cut here, or an error saying what is missing.
func Check(fstype string) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("needs Linux, not %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (loop devices, mount)")
	}
	for _, tool := range []string{"losetup", "mount", "umount", "sync", "mkfs." + fstype} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs %s on PATH (mkfs.xfs is in xfsprogs, mkfs.ext4 in e2fsprogs)", tool)
		}
	}
	// Finds a free loop device without taking it: fails in containers
	// without /dev/loop-control.
	if out, err := exec.Command("losetup", "-f").CombinedOutput(); err != nil {
		return fmt.Errorf("no free loop device: losetup -f: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// FS is a file system of one type on a loop device, mounted at Dir.
type FS struct {
	Type  string
	Dir   string // the mount point
	image string
	dev   string
	up    bool // mounted
}

// New creates an image of size bytes, attaches it to a loop device, makes
// a file system of type fstype on it and mounts it. It fails tb when any
// step fails; tb.Cleanup unmounts, detaches and removes everything.
func New(tb testing.TB, fstype string, size int64) *FS {
	tb.Helper()
	f := &FS{Type: fstype}
	tb.Cleanup(func() {
		if err := f.teardown(); err != nil {
			tb.Errorf("realfs: cleanup of %s: %v", fstype, err)
		}
	})
	img, err := os.CreateTemp("", "memvec-realfs-"+fstype+"-*.img")
	if err != nil {
		tb.Fatal(err)
	}
	f.image = img.Name()
	err = img.Truncate(size) // sparse: costs only what the file system writes
	if cerr := img.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
	out, err := run("losetup", "-f", "--show", f.image)
	if err != nil {
		tb.Fatal(err)
	}
	f.dev = strings.TrimSpace(out)
	mkfs := []string{"mkfs." + fstype, "-q"}
	switch fstype {
	case "xfs":
		mkfs = append(mkfs, "-f")
	case "ext4":
		mkfs = append(mkfs, "-F")
	}
	if _, err := run(mkfs[0], append(mkfs[1:], f.dev)...); err != nil {
		tb.Fatal(err)
	}
	if f.Dir, err = os.MkdirTemp("", "memvec-realfs-"+fstype+"-mnt-"); err != nil {
		tb.Fatal(err)
	}
	if err := f.Mount(); err != nil {
		tb.Fatal(err)
	}
	return f
}

// Mount mounts the file system at Dir (replaying its log, after a
// Shutdown).
func (f *FS) Mount() error {
	if _, err := run("mount", "-t", f.Type, f.dev, f.Dir); err != nil {
		return err
	}
	f.up = true
	return nil
}

// Unmount unmounts it; it fails ("target is busy") while any process holds
// a descriptor, mapping or working directory in it.
func (f *FS) Unmount() error {
	if _, err := run("umount", f.Dir); err != nil {
		return err
	}
	f.up = false
	return nil
}

// Remount unmounts and mounts again: after a Shutdown, what the device
// holds is then what a power cut would have left.
func (f *FS) Remount() error {
	if err := f.Unmount(); err != nil {
		return err
	}
	return f.Mount()
}

// Shutdown cuts the power: the file system stops at once, without writing
// its log or any dirty page, and every later operation on it fails with
// EIO until it is remounted.
//
// A process that is in the middle of an fsync when the cut comes can see
// it return success although its data is lost (measured on xfs and ext4);
// a power cut stops the process too. So stop (SIGSTOP) or kill every
// process writing to the file system first.
func (f *FS) Shutdown() error {
	return shutdown(f.Dir)
}

// Sync makes everything done on the file system so far durable (syncfs),
// so that a later Shutdown cannot undo it.
func (f *FS) Sync() error {
	_, err := run("sync", "-f", f.Dir)
	return err
}

// Probe checks that Shutdown cuts like a power cut on this kernel: a file
// fsynced before it survives, and data written after that without fsync
// does not.
func (f *FS) Probe() error {
	kept, lost := filepath.Join(f.Dir, "probe-kept"), filepath.Join(f.Dir, "probe-lost")
	if err := writeFile(kept, "kept", true); err != nil {
		return err
	}
	if err := syncDir(f.Dir); err != nil {
		return err
	}
	if err := writeFile(lost, "lost", false); err != nil {
		return err
	}
	if err := f.Shutdown(); err != nil {
		return err
	}
	if _, err := os.ReadFile(kept); err == nil {
		return errors.New("the file system still reads after the shutdown")
	}
	if err := f.Remount(); err != nil {
		return err
	}
	defer os.Remove(kept)
	defer os.Remove(lost)
	if b, err := os.ReadFile(kept); err != nil || string(b) != "kept" {
		return fmt.Errorf("an fsynced file reads back %q, %v after the cut", b, err)
	}
	if b, err := os.ReadFile(lost); err == nil && bytes.Contains(b, []byte("lost")) {
		return errors.New("data never fsynced survived the cut: it does not cut like a power cut")
	}
	return nil
}

func writeFile(path, data string, sync bool) error {
	fl, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = fl.WriteString(data)
	if err == nil && sync {
		err = fl.Sync()
	}
	return errors.Join(err, fl.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// teardown undoes whatever New got done. A mount that is still busy (a
// test leaked a descriptor) is detached lazily so that the loop device and
// the image still go.
func (f *FS) teardown() error {
	var errs []error
	if f.up {
		if err := f.Unmount(); err != nil {
			if _, lerr := run("umount", "-l", f.Dir); lerr != nil {
				errs = append(errs, err, lerr)
			}
		}
	}
	if f.dev != "" {
		if _, err := run("losetup", "-d", f.dev); err != nil {
			errs = append(errs, err)
		}
	}
	if f.Dir != "" {
		if err := os.Remove(f.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if f.image != "" {
		if err := os.Remove(f.image); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}
