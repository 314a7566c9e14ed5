// Package dropdir is the drop-directory logic shared by the file and sftp
// adapters: claiming files by atomic rename, delivering them, disposing of
// them, and writing files atomically and idempotently. It works on any FS,
// so both adapters have the same semantics over different transports.
package dropdir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// ProcessingDir is the subdirectory of dir that holds claimed files while
// the hub takes them. Files found there when a source starts were claimed
// by a run that died; they go back to dir and are delivered again.
const ProcessingDir = ".processing"

// FS is what a drop directory needs from a file system. Paths use forward
// slashes. Errors for missing files satisfy errors.Is(err, fs.ErrNotExist).
type FS interface {
	ReadDir(dir string) ([]fs.FileInfo, error)
	ReadFile(name string) ([]byte, error)
	// WriteFile creates name, which must not exist, with data, and makes
	// it durable where the file system can.
	WriteFile(name string, data []byte) error
	// Rename moves oldname to newname, replacing newname if it exists.
	Rename(oldname, newname string) error
	Remove(name string) error
	MkdirAll(dir string) error
	Stat(name string) (fs.FileInfo, error)
}

// Poller claims and delivers the files of one drop directory.
type Poller struct {
	cfg       SourceConfig
	log       *zap.Logger
	recovered bool
}

// NewPoller returns a poller for a validated cfg.
func NewPoller(cfg SourceConfig, log *zap.Logger) *Poller {
	return &Poller{cfg: cfg, log: log}
}

func (p *Poller) sub(name string) string {
	if path.IsAbs(name) {
		return name
	}
	return path.Join(p.cfg.Dir, name)
}

// Poll scans the directory once and delivers the ready files in name order,
// one at a time. A file whose delivery fails goes back and ends the scan, so
// no later file overtakes it; it is delivered again by the next Poll. Poll
// returns file-system errors, which are transient.
func (p *Poller) Poll(ctx context.Context, fsys FS, deliver adapters.DeliverFunc) error {
	processing := p.sub(ProcessingDir)
	if !p.recovered {
		if err := p.recover(fsys, processing); err != nil {
			return err
		}
		p.recovered = true
	}
	infos, err := fsys.ReadDir(p.cfg.Dir)
	if err != nil {
		return fmt.Errorf("read dir %s: %w", p.cfg.Dir, err)
	}
	slices.SortFunc(infos, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	for _, fi := range infos {
		if ctx.Err() != nil {
			return nil
		}
		if !p.ready(fi) {
			continue
		}
		done, err := p.deliverFile(ctx, fsys, fi.Name(), deliver)
		if err != nil || !done {
			return err
		}
	}
	return nil
}

func (p *Poller) ready(fi fs.FileInfo) bool {
	name := fi.Name()
	if !fi.Mode().IsRegular() {
		return false
	}
	if ok, _ := path.Match(p.cfg.Pattern, name); !ok {
		return false
	}
	for _, g := range p.cfg.Ignore {
		if ok, _ := path.Match(g, name); ok {
			return false
		}
	}
	return time.Since(fi.ModTime()) >= p.cfg.SettleTime
}

// deliverFile claims, delivers and disposes of one file. It reports
// whether the scan may go on.
func (p *Poller) deliverFile(ctx context.Context, fsys FS, name string, deliver adapters.DeliverFunc) (bool, error) {
	processing := p.sub(ProcessingDir)
	if err := fsys.MkdirAll(processing); err != nil {
		return false, fmt.Errorf("create %s: %w", processing, err)
	}
	orig, claimed := path.Join(p.cfg.Dir, name), path.Join(processing, name)
	if err := fsys.Rename(orig, claimed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil // another consumer claimed it first
		}
		return false, fmt.Errorf("claim %s: %w", name, err)
	}
	log := p.log.With(zap.String("filename", name))
	body, err := fsys.ReadFile(claimed)
	if err != nil {
		return false, errors.Join(fmt.Errorf("read %s: %w", name, err), p.unclaim(fsys, claimed, orig))
	}
	_, err = deliver(ctx, knutpunkt.Message{Headers: p.headers(name), Body: body})
	switch {
	case err == nil:
		log.Debug("delivered")
		return true, p.dispose(fsys, claimed, name)
	case adapters.IsPermanent(err):
		log.Warn("hub refused file, moved to failed_dir", zap.Error(err))
		return true, p.fail(fsys, claimed, name, err)
	default:
		log.Debug("delivery failed, file will be retried", zap.Error(err))
		return false, p.unclaim(fsys, claimed, orig)
	}
}

func (p *Poller) headers(name string) map[string]string {
	h := map[string]string{knutpunkt.HeaderFilename: name}
	ct := p.cfg.ContentType
	if ct == "" {
		ct = mime.TypeByExtension(path.Ext(name))
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	h[knutpunkt.HeaderContentType] = ct
	if p.cfg.SourceSystem != "" {
		h[knutpunkt.HeaderSourceSystem] = p.cfg.SourceSystem
	}
	return h
}

func (p *Poller) unclaim(fsys FS, claimed, orig string) error {
	if err := fsys.Rename(claimed, orig); err != nil {
		return fmt.Errorf("return %s: %w", path.Base(orig), err)
	}
	return nil
}

func (p *Poller) dispose(fsys FS, claimed, name string) error {
	if p.cfg.AfterDelivery == Delete {
		if err := fsys.Remove(claimed); err != nil {
			return fmt.Errorf("delete delivered %s: %w", name, err)
		}
		return nil
	}
	return p.moveTo(fsys, claimed, p.sub(p.cfg.DoneDir), name)
}

func (p *Poller) fail(fsys FS, claimed, name string, reason error) error {
	dir := p.sub(p.cfg.FailedDir)
	if err := p.moveTo(fsys, claimed, dir, name); err != nil {
		return err
	}
	_ = fsys.Remove(path.Join(dir, name+".error"))
	if err := fsys.WriteFile(path.Join(dir, name+".error"), []byte(reason.Error()+"\n")); err != nil {
		return fmt.Errorf("write reason for %s: %w", name, err)
	}
	return nil
}

func (p *Poller) moveTo(fsys FS, claimed, dir, name string) error {
	if err := fsys.MkdirAll(dir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := fsys.Rename(claimed, path.Join(dir, name)); err != nil {
		return fmt.Errorf("move %s to %s: %w", name, dir, err)
	}
	return nil
}

// recover moves files left in the processing directory back into dir.
func (p *Poller) recover(fsys FS, processing string) error {
	infos, err := fsys.ReadDir(processing)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read dir %s: %w", processing, err)
	}
	for _, fi := range infos {
		if !fi.Mode().IsRegular() {
			continue
		}
		p.log.Info("returning file left by an interrupted run", zap.String("filename", fi.Name()))
		if err := p.unclaim(fsys, path.Join(processing, fi.Name()), path.Join(p.cfg.Dir, fi.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Writer writes one file per message, atomically and idempotently.
type Writer struct {
	dir  string
	tmpl *template.Template
}

// NewWriter returns a writer for a validated cfg.
func NewWriter(cfg SinkConfig) (*Writer, error) {
	tmpl, err := template.New("filename").Option("missingkey=zero").Parse(cfg.Filename)
	if err != nil {
		return nil, fmt.Errorf("filename: %w", err)
	}
	return &Writer{dir: cfg.Dir, tmpl: tmpl}, nil
}

// Name returns the file name for m. A name the template cannot make valid
// for m is a permanent error: resending will not change it.
func (w *Writer) Name(m knutpunkt.Message) (string, error) {
	var b strings.Builder
	if err := w.tmpl.Execute(&b, struct {
		ID      string
		Headers map[string]string
	}{m.IdempotencyKey(), m.Headers}); err != nil {
		return "", adapters.Permanent(fmt.Errorf("filename template: %w", err))
	}
	name := b.String()
	if name == "" || name == ".." || strings.HasPrefix(name, ".") || strings.ContainsAny(name, "/\\\x00") {
		return "", adapters.Permanent(fmt.Errorf("filename template gives %q for message %s: want one path element not starting with '.'", name, m.ID))
	}
	return name, nil
}

// Write stores m as one file: it writes a hidden temporary file in the same
// directory and renames it into place, so readers never see a partial file.
// If the file already exists, Write does nothing: the name comes from the
// message, so the message was written before.
func (w *Writer) Write(fsys FS, m knutpunkt.Message) error {
	name, err := w.Name(m)
	if err != nil {
		return err
	}
	final := path.Join(w.dir, name)
	if _, err := fsys.Stat(final); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	tmp := path.Join(w.dir, "."+name+"."+randomHex()+".tmp")
	if err := fsys.WriteFile(tmp, m.Body); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := fsys.Rename(tmp, final); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("rename %s into place: %w", name, err)
	}
	return nil
}

// CheckDir reports whether dir exists and is writable, by writing and
// removing a probe file.
func CheckDir(fsys FS, dir string) error {
	fi, err := fsys.Stat(dir)
	if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	probe := path.Join(dir, ".knutpunkt-check-"+randomHex())
	if err := fsys.WriteFile(probe, nil); err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	if err := fsys.Remove(probe); err != nil {
		return fmt.Errorf("remove probe in %s: %w", dir, err)
	}
	return nil
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
