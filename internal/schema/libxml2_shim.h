#ifndef KP_SHIM_H
#define KP_SHIM_H
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <libxml/xmlschemas.h>
#include <libxml/globals.h>

// kp_problem is one error reported by libxml2, copied out of its
// (reused) xmlError so it outlives the callback.
typedef struct {
	int line;
	int col;
	char *msg;
	char *path;
	char *file;
} kp_problem;

// kp_errs accumulates errors; max bounds memory on hostile input.
typedef struct {
	kp_problem *items;
	int n;
	int cap;
	int max;
	int dropped;
} kp_errs;

// kp_saved holds what kp_quiet replaced. kp_quiet routes this thread's libxml2 error channels into errs and
// returns what was there before. libxml2 keeps these per thread, and a
// cgo call never changes threads, so set + work + restore inside one C
// call is race-free even though goroutines migrate between threads.
typedef struct {
	xmlGenericErrorFunc generic;
	void *genericCtx;
	xmlStructuredErrorFunc structured;
	void *structuredCtx;
} kp_saved;

// kp_result is an XPath result copied out of libxml2: either strings
// (string values of the selected nodes, or the one converted
// string/number/boolean) or node pointers (for Each).
typedef struct {
	int type;
	int n;
	char **strs;
	xmlNodePtr *nodes;
	int nonTree;
} kp_result;

char *kp_node_path(xmlNodePtr node);
void kp_errs_add(void *ud, xmlErrorPtr err);
void kp_errs_free(kp_errs *l);
kp_problem *kp_errs_at(kp_errs *l, int i);
void kp_silent(void *ctx, const char *msg, ...);
kp_saved kp_quiet(kp_errs *errs);
void kp_restore(kp_saved s);
void kp_init(void);
xmlDocPtr kp_parse(const char *buf, int len, int opts, kp_errs *errs, int *hasDTD);
xmlXPathCompExprPtr kp_xpath_compile(const char *expr, kp_errs *errs);
void kp_result_free(kp_result *r);
char *kp_result_str(kp_result *r, int i);
xmlNodePtr kp_result_node(kp_result *r, int i);
int kp_xpath_eval(xmlXPathCompExprPtr comp, xmlDocPtr doc, xmlNodePtr node,
		char **ns, int nns, int wantNodes, kp_result *r, kp_errs *errs);
char *kp_node_string(xmlNodePtr node);
void kp_xmlfree(void *p);
xmlSchemaPtr kp_schema_parse_file(const char *path, kp_errs *errs);
int kp_schema_validate(xmlSchemaPtr schema, xmlDocPtr doc, kp_errs *errs);
#endif
