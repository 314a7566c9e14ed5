package providersim

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters/sftp/sftptest"
)

// SFTP is a provider that takes orders as files: an sftptest server whose
// drop directory is read straight from disk.
type SFTP struct {
	// Server is the SFTP server (Addr, User, Password, Fingerprint, Down, Up).
	*sftptest.Server
	// Dir is the remote drop directory, relative to the server's root:
	// the hub's sftp.dir.
	Dir string

	local string
}

// File is one order file the provider received.
type File struct {
	Name string
	Body []byte
}

// NewSFTP starts an SFTP provider with an empty drop directory "in/orders"
// that stops when t ends.
func NewSFTP(t testing.TB) *SFTP {
	t.Helper()
	root := t.TempDir()
	p := &SFTP{Server: sftptest.NewServer(t, root), Dir: "in/orders", local: filepath.Join(root, "in", "orders")}
	if err := os.MkdirAll(p.local, 0o750); err != nil {
		t.Fatal(err)
	}
	return p
}

// Received returns the complete files in the drop directory (temporary
// upload names, which start with ".", excluded), oldest first.
func (p *SFTP) Received() ([]File, error) {
	entries, err := os.ReadDir(p.local)
	if err != nil {
		return nil, err
	}
	type stamped struct {
		File
		mod int64
	}
	var files []stamped
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		body, err := os.ReadFile(filepath.Join(p.local, e.Name()))
		if err != nil {
			return nil, err
		}
		files = append(files, stamped{File{Name: e.Name(), Body: body}, fi.ModTime().UnixNano()})
	}
	slices.SortStableFunc(files, func(a, b stamped) int {
		return cmp.Or(cmp.Compare(a.mod, b.mod), strings.Compare(a.Name, b.Name))
	})
	out := make([]File, len(files))
	for i, f := range files {
		out[i] = f.File
	}
	return out, nil
}
