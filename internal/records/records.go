// Package records splits a file into the records a pipeline takes one at a
// time: a line of JSON lines, or a CSV record with its header line before it.
// `knut import` reads files with it, and so do adapters that take a vendor's
// export file (the TES nightly export): a file is one delivery, its records
// are messages, so one bad row is one dead letter, not a lost file.
//
// Files are split on bytes ('\n', '"', the separators), which reads the same
// in every charset the steps decode (UTF-8, ISO-8859-1, Windows-1252: each
// writes ASCII as ASCII), and bodies are passed on as they are: the mapping
// reads each one's charset. A CSV record travels with its header line, byte
// order mark included: a file that starts with one is UTF-8 in every record.
package records

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// Format is how a file is split.
type Format int

// The formats.
const (
	// Lines: one record per non-blank line (JSON lines).
	Lines Format = iota
	// CSV: the first record is the header; every later record is a
	// message body of the header line, '\n', and the record.
	CSV
)

// Record is one record of a file.
type Record struct {
	// Line is the file's line (1-based) where the record starts: with the
	// file's name, the record's external id.
	Line int
	// Body is the record, for CSV with its header line before it.
	Body []byte
}

// Reader reads the records of one file.
type Reader struct {
	sc      *bufio.Scanner
	format  Format
	maxBody int
	header  []byte
	line    int
	pending *Record // a record found while reading the one before
}

// NewReader reads r in format; a record longer than maxBody bytes is an
// error for Lines and, for CSV, ends at maxBody (its mapping then refuses
// it, as one message).
func NewReader(r io.Reader, format Format, maxBody int) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxBody+1)
	return &Reader{sc: sc, format: format, maxBody: maxBody}
}

// Next returns the next record, or io.EOF after the last.
func (r *Reader) Next() (Record, error) {
	if r.pending != nil {
		rec := *r.pending
		r.pending = nil
		return rec, nil
	}
	for r.sc.Scan() {
		r.line++
		text := r.sc.Bytes()
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		first := r.line
		body := append([]byte(nil), text...)
		if r.format != CSV {
			return Record{Line: first, Body: body}, nil
		}
		// A quoted field may hold line breaks: the record goes on while a
		// quote is open (RFC 4180: an escaped quote is two, so an odd count
		// leaves one open), up to the body limit; the mapping then refuses
		// what is too long or never closed, as one message. A line that is
		// a whole record of its own (as many separators as the header, its
		// quotes closed) starts the next record instead: one stray quote
		// costs one row, not the rest of the file.
		for bytes.Count(body, []byte{'"'})%2 == 1 && len(body) <= r.maxBody && r.sc.Scan() {
			r.line++
			if r.header != nil && wholeRecord(r.sc.Bytes(), r.header) {
				r.pending = &Record{Line: r.line, Body: withHeader(r.header, r.sc.Bytes())}
				break
			}
			body = append(append(body, '\n'), r.sc.Bytes()...)
		}
		if r.header == nil {
			r.header = body
			continue
		}
		return Record{Line: first, Body: withHeader(r.header, body)}, nil
	}
	if err := r.sc.Err(); err != nil {
		return Record{}, fmt.Errorf("line %d: %w", r.line+1, err)
	}
	return Record{}, io.EOF
}

// withHeader is a CSV record as a message body: the header line, then it.
func withHeader(header, record []byte) []byte {
	return append(append(append(make([]byte, 0, len(header)+1+len(record)), header...), '\n'), record...)
}

// wholeRecord reports whether line is a CSV record on its own: its quotes
// closed and at least as many of the header's separator (the most common
// of ';', ',' and tab in it) as the header has.
func wholeRecord(line, header []byte) bool {
	if bytes.Count(line, []byte{'"'})%2 == 1 {
		return false
	}
	sep, n := byte(0), 0
	for _, c := range []byte{';', ',', '\t'} {
		if k := bytes.Count(header, []byte{c}); k > n {
			sep, n = c, k
		}
	}
	return n > 0 && bytes.Count(line, []byte{sep}) >= n
}
