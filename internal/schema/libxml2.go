package schema

/*
#cgo pkg-config: libxml-2.0
#include <stdlib.h>
#include "libxml2_shim.h"
*/
import "C"

import (
	"strings"
	"sync"
	"unsafe"

	"github.com/lestrrat-go/libxml2/parser"
)

// parseOptions is the one place the hub's XML parser options are set.
// Never add XMLParseNoEnt (substitutes entities: XXE), XMLParseDTDLoad
// (fetches external DTDs) or XMLParseHuge (lifts the billion-laughs
// limits); see STACK.md §3.5 and pitfall 7. NoError and NoWarning stop
// libxml2 writing to stderr; errors are collected per call instead.
const parseOptions = parser.XMLParseNoNet | parser.XMLParseNoError | parser.XMLParseNoWarning

// maxProblems bounds how many libxml2 errors one call keeps, so a
// hostile document cannot make us allocate without limit.
const maxProblems = 100

var initOnce sync.Once

// initLibxml2 initialises libxml2 for multi-threaded use and installs the
// no-network entity loader. It is process-wide C state, hence the Once.
func initLibxml2() {
	initOnce.Do(func() { C.kp_init() })
}

// cProblem is a libxml2 error copied into Go memory.
type cProblem struct {
	line, col int
	msg, path string
	file      string
}

func newErrs() *C.kp_errs {
	e := (*C.kp_errs)(C.calloc(1, C.size_t(unsafe.Sizeof(C.kp_errs{}))))
	e.max = maxProblems
	return e
}

// drainErrs copies and frees the accumulated problems.
func drainErrs(e *C.kp_errs) (ps []cProblem, dropped int) {
	for i := 0; i < int(e.n); i++ {
		p := C.kp_errs_at(e, C.int(i))
		cp := cProblem{line: int(p.line), col: int(p.col), msg: scrubXMLReason(strings.TrimSpace(C.GoString(p.msg)))}
		if p.path != nil {
			cp.path = cutPath(C.GoString(p.path))
		}
		if p.file != nil {
			cp.file = C.GoString(p.file)
		}
		ps = append(ps, cp)
	}
	dropped = int(e.dropped)
	C.kp_errs_free(e)
	C.free(unsafe.Pointer(e))
	return ps, dropped
}
