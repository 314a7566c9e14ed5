// Package schema owns every XML parse in the hub and validates message
// bodies against their contracts: XML Schema (libxml2) and JSON Schema
// 2020-12 (santhosh-tekuri/jsonschema), behind one Validator interface.
//
// # Why the only cgo package
//
// Pure-Go XSD validators report too little (one error per document) and
// run an order of magnitude slower (STACK.md §3.5), so XML Schema means
// libxml2 through cgo. Confining cgo here keeps the rest of the module
// buildable with CGO_ENABLED=0, keeps the C memory rules (Free, per-call
// contexts) in one reviewed place, and means there is exactly one set of
// parser options to audit. Other packages (mapping, adapters) parse XML
// through ParseXML and read it through XPath, never through encoding/xml
// on untrusted input that a schema will later see differently.
//
// The C calls are a small shim (libxml2_shim.c) over the libxml2 API
// rather than lestrrat-go/libxml2's wrappers, whose option constants we
// do use. The wrappers cap schema errors at 32 without line numbers, leak
// the schema document, let XPath errors reach stderr, cannot return
// string/number results, and leave it to the caller to notice that
// libxml2 writes into a compiled XPath while evaluating it.
//
// # Safe-parse policy
//
//   - A document with a DOCTYPE is refused before libxml2 sees it, and
//     again if a DTD node ever appears in the tree. No DTD means no
//     internal or external entity, no external DTD fetch and no entity
//     expansion bomb; the refusal never quotes the DTD, so payloads
//     (file names, URLs, entity text) do not reach logs.
//   - Parse options never include NoEnt, DTDLoad or Huge; NoNet is set,
//     and libxml2's external entity loader is the no-network one for the
//     whole process, which also covers schema imports and xsi hints.
//   - A body is read in the encoding its XML declaration names: UTF-8,
//     US-ASCII, ISO-8859-1 or Windows-1252 (decoded to UTF-8 by package
//     textenc before libxml2 sees it, so libxml2 only ever reads UTF-8),
//     and must be UTF-8 without one. Other encodings, and bytes that are
//     not characters in the named one, are refused first, with the byte
//     offset of the first bad byte.
//   - libxml2 never writes to stderr: errors are collected per call,
//     with line numbers, and returned.
//   - Shape limits (XMLLimits: attributes per element, elements, depth,
//     name length) are checked by a linear pre-scan before libxml2 runs,
//     whose attribute handling is quadratic. Size limits are the
//     caller's job; everything here reads the whole body.
//
// Schema files themselves are trusted repository content (libxml2 reads
// them with entity substitution on): load only reviewed files from the
// schemas directory, never anything a message supplies.
//
// # Concurrency
//
// An XMLDocument belongs to one goroutine at a time. Compiled XPath, XSD
// and JSONSchema values are safe for concurrent use: each evaluation or
// validation gets its own libxml2 context, and compiled XPath copies are
// pooled so no two evaluations share one.
package schema
