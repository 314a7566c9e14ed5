package schema

/*
#include <stdlib.h>
#include "libxml2_shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"
)

// XSD is a compiled XML Schema. It is immutable after LoadXSD, and each
// Validate call gets its own libxml2 validation context, so one XSD may
// be shared by any number of goroutines.
type XSD struct {
	name string
	ptr  C.xmlSchemaPtr
}

// LoadXSD compiles the XML Schema at path. xs:include and xs:import
// with a relative schemaLocation resolve against the including file,
// because libxml2 parses from the file's own URL (an in-memory parse,
// as lestrrat-go/libxml2's xsd.Parse does, has no base to resolve
// against). Network locations are refused. The schema lives as long as
// the returned value; there is no Close, a cleanup frees it after GC.
//
// Schema files are trusted repository content: libxml2 reads them (and
// their includes) with entity substitution on, which is why only
// reviewed files under schemas/ may be loaded, never a message body.
func LoadXSD(path string) (*XSD, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load xsd %s: %w", path, err)
	}
	// libxml2 would report a missing file as a vague parse failure.
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("load xsd %s: %w", path, err)
	}
	initLibxml2()
	cpath := C.CString(abs)
	defer C.free(unsafe.Pointer(cpath))
	errs := newErrs()
	ptr := C.kp_schema_parse_file(cpath, errs)
	ps, dropped := drainErrs(errs)
	if ptr == nil {
		var msgs []string
		for _, p := range ps {
			loc := ""
			if p.file != "" {
				loc = relTo(filepath.Dir(abs), p.file)
				if p.line > 0 {
					loc += fmt.Sprintf(":%d", p.line)
				}
				loc += ": "
			}
			msgs = append(msgs, loc+p.msg)
		}
		if dropped > 0 {
			msgs = append(msgs, fmt.Sprintf("and %d more errors", dropped))
		}
		if len(msgs) == 0 {
			msgs = []string{"schema is not valid"}
		}
		return nil, fmt.Errorf("load xsd %s: %s", path, strings.Join(msgs, "; "))
	}
	x := &XSD{name: filepath.ToSlash(path), ptr: ptr}
	runtime.AddCleanup(x, func(p C.xmlSchemaPtr) { C.xmlSchemaFree(p) }, ptr)
	return x, nil
}

// relTo shortens a libxml2 file name or file: URL for error messages.
func relTo(dir, file string) string {
	file = strings.TrimPrefix(file, "file://")
	if r, err := filepath.Rel(dir, file); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return file
}

// Validate parses body with ParseXML (so DTDs and entities are refused
// here too) and validates it. Every problem libxml2 reports is returned
// in one *ValidationError, up to a bound of 100.
func (x *XSD) Validate(body []byte) error {
	doc, err := ParseXML(body)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return &ValidationError{Schema: x.name, Problems: []Problem{{Line: pe.Line, Reason: pe.Reason}}}
		}
		return fmt.Errorf("validate %s: %w", x.name, err)
	}
	defer doc.Free()
	errs := newErrs()
	rc := C.kp_schema_validate(x.ptr, doc.ptr, errs)
	ps, dropped := drainErrs(errs)
	runtime.KeepAlive(x)
	switch {
	case rc == 0:
		return nil
	case rc < 0:
		return fmt.Errorf("validate %s: libxml2 internal error", x.name)
	}
	ve := &ValidationError{Schema: x.name, Dropped: dropped}
	for _, p := range ps {
		ve.Problems = append(ve.Problems, Problem{Path: p.path, Line: p.line, Reason: p.msg})
	}
	if len(ve.Problems) == 0 {
		ve.Problems = []Problem{{Line: 1, Reason: "document is not valid"}}
	}
	return ve
}
