package file

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
)

// osFS is the local file system as a dropdir.FS. Files are created 0640 and
// directories 0750: they hold personal data.
type osFS struct{}

var _ dropdir.FS = osFS{}

func (osFS) ReadDir(dir string) ([]fs.FileInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	infos := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // removed since the listing
		}
		infos = append(infos, fi)
	}
	return infos, nil
}

func (osFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (osFS) WriteFile(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// Rename renames and then syncs the target directory, so the new name
// survives a crash.
func (osFS) Rename(oldname, newname string) error {
	if err := os.Rename(oldname, newname); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(newname))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (osFS) Remove(name string) error              { return os.Remove(name) }
func (osFS) MkdirAll(dir string) error             { return os.MkdirAll(dir, 0o750) }
func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }
