// C shims over libxml2 for package schema; see libxml2.go.
#include "libxml2_shim.h"
#include <stdio.h>





// kp_node_path renders node as "/visit/insatser/insats[2]/minutes":
// local names (xmlGetNodePath prints "*" for default-namespace
// elements), with a position only where a name repeats among siblings.
char *kp_node_path(xmlNodePtr node) {
	char buf[1024];
	char seg[160];
	size_t len = 0;
	buf[sizeof(buf) - 1] = 0;
	size_t pos = sizeof(buf) - 1;
	xmlNodePtr cur;
	for (cur = node; cur != NULL && (cur->type == XML_ELEMENT_NODE || cur->type == XML_ATTRIBUTE_NODE); cur = cur->parent) {
		if (cur->type == XML_ATTRIBUTE_NODE) {
			snprintf(seg, sizeof(seg), "/@%s", (const char *) cur->name);
		} else {
			int idx = 0, same = 0;
			xmlNodePtr sib;
			if (cur->parent != NULL) {
				for (sib = cur->parent->children; sib != NULL; sib = sib->next) {
					if (sib->type == XML_ELEMENT_NODE && xmlStrEqual(sib->name, cur->name)) {
						same++;
						if (sib == cur) {
							idx = same;
						}
					}
				}
			}
			if (same > 1) {
				snprintf(seg, sizeof(seg), "/%s[%d]", (const char *) cur->name, idx);
			} else {
				snprintf(seg, sizeof(seg), "/%s", (const char *) cur->name);
			}
		}
		len = strlen(seg);
		if (len > pos) {
			break;
		}
		pos -= len;
		memcpy(buf + pos, seg, len);
	}
	return strdup(buf + pos);
}

void kp_errs_add(void *ud, xmlErrorPtr err) {
	kp_errs *l = (kp_errs *) ud;
	if (l == NULL || err == NULL || err->level == XML_ERR_WARNING || err->level == XML_ERR_NONE) {
		return;
	}
	if (l->n >= l->max) {
		l->dropped++;
		return;
	}
	if (l->n == l->cap) {
		int nc = l->cap == 0 ? 8 : l->cap * 2;
		kp_problem *ni = (kp_problem *) realloc(l->items, sizeof(kp_problem) * nc);
		if (ni == NULL) {
			l->dropped++;
			return;
		}
		l->items = ni;
		l->cap = nc;
	}
	kp_problem *p = &l->items[l->n++];
	p->line = err->line;
	p->col = err->int2;
	if (err->domain == XML_FROM_XPATH) {
		p->line = 0;
		p->col = err->int1 + 1; // position in the expression
	}
	p->msg = strdup(err->message != NULL ? err->message : "unknown error");
	p->path = NULL;
	p->file = err->file != NULL ? strdup(err->file) : NULL;
	if (err->node != NULL && err->domain == XML_FROM_SCHEMASV) {
		xmlNodePtr node = (xmlNodePtr) err->node;
		if (node->type == XML_ELEMENT_NODE || node->type == XML_ATTRIBUTE_NODE) {
			p->path = kp_node_path(node);
			if (p->line <= 0) {
				p->line = (int) xmlGetLineNo(node);
			}
		}
	}
}

void kp_errs_free(kp_errs *l) {
	int i;
	for (i = 0; i < l->n; i++) {
		free(l->items[i].msg);
		free(l->items[i].path);
		free(l->items[i].file);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
	l->cap = 0;
}

kp_problem *kp_errs_at(kp_errs *l, int i) { return &l->items[i]; }

void kp_silent(void *ctx, const char *msg, ...) {}



kp_saved kp_quiet(kp_errs *errs) {
	kp_saved s;
	s.generic = xmlGenericError;
	s.genericCtx = xmlGenericErrorContext;
	s.structured = xmlStructuredError;
	s.structuredCtx = xmlStructuredErrorContext;
	xmlSetGenericErrorFunc(NULL, kp_silent);
	xmlSetStructuredErrorFunc(errs, kp_errs_add);
	return s;
}

void kp_restore(kp_saved s) {
	xmlSetGenericErrorFunc(s.genericCtx, s.generic);
	xmlSetStructuredErrorFunc(s.structuredCtx, s.structured);
}

void kp_init(void) {
	xmlInitParser();
	// Defence in depth: no libxml2 code path (schema imports, xsi hints,
	// anything we missed) may fetch over the network. file: still works,
	// which is what xs:include/xs:import of sibling files need.
	xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
}

// kp_parse parses one in-memory document as UTF-8 and returns NULL with
// errs filled unless it is well-formed, namespace-well-formed and has
// no DTD at all.
xmlDocPtr kp_parse(const char *buf, int len, int opts, kp_errs *errs, int *hasDTD) {
	kp_saved s = kp_quiet(errs);
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	xmlDocPtr doc = NULL;
	*hasDTD = 0;
	if (ctxt != NULL) {
		doc = xmlCtxtReadMemory(ctxt, buf, len, NULL, "UTF-8", opts);
		if (doc != NULL && (!ctxt->wellFormed || !ctxt->nsWellFormed)) {
			xmlFreeDoc(doc);
			doc = NULL;
		}
		xmlFreeParserCtxt(ctxt);
	}
	if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL)) {
		*hasDTD = 1;
		xmlFreeDoc(doc);
		doc = NULL;
	}
	kp_restore(s);
	return doc;
}

xmlXPathCompExprPtr kp_xpath_compile(const char *expr, kp_errs *errs) {
	kp_saved s = kp_quiet(errs);
	xmlXPathCompExprPtr comp = NULL;
	xmlXPathContextPtr ctx = xmlXPathNewContext(NULL);
	if (ctx != NULL) {
		comp = xmlXPathCtxtCompile(ctx, (const xmlChar *) expr);
		xmlXPathFreeContext(ctx);
	}
	kp_restore(s);
	return comp;
}



void kp_result_free(kp_result *r) {
	int i;
	if (r->strs != NULL) {
		for (i = 0; i < r->n; i++) {
			xmlFree(r->strs[i]);
		}
		free(r->strs);
	}
	free(r->nodes);
	r->strs = NULL;
	r->nodes = NULL;
	r->n = 0;
}

char *kp_result_str(kp_result *r, int i) { return r->strs[i]; }
xmlNodePtr kp_result_node(kp_result *r, int i) { return r->nodes[i]; }

// kp_xpath_eval evaluates comp with node as the context node. ns holds
// nns prefix/URI pairs. wantNodes selects node pointers instead of
// strings. The context and the result object are freed before return.
int kp_xpath_eval(xmlXPathCompExprPtr comp, xmlDocPtr doc, xmlNodePtr node,
		char **ns, int nns, int wantNodes, kp_result *r, kp_errs *errs) {
	int i, rc = -1;
	memset(r, 0, sizeof(*r));
	kp_saved s = kp_quiet(errs);
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	if (ctx == NULL) {
		kp_restore(s);
		return -1;
	}
	ctx->node = node;
	// No ctx->error handler on purpose: with one, libxml2 2.9 passes an
	// xmlError without its message; without, the error reaches the
	// thread's structured handler that kp_quiet installed, text included.
	for (i = 0; i < nns; i++) {
		if (xmlXPathRegisterNs(ctx, (const xmlChar *) ns[2*i], (const xmlChar *) ns[2*i+1]) != 0) {
			goto done;
		}
	}
	xmlXPathObjectPtr obj = xmlXPathCompiledEval(comp, ctx);
	if (obj == NULL) {
		goto done;
	}
	r->type = obj->type;
	if (obj->type == XPATH_NODESET || obj->type == XPATH_XSLT_TREE) {
		xmlNodeSetPtr set = obj->nodesetval;
		int n = set == NULL ? 0 : set->nodeNr;
		if (n > 0) {
			if (wantNodes) {
				r->nodes = (xmlNodePtr *) calloc(n, sizeof(xmlNodePtr));
			} else {
				r->strs = (char **) calloc(n, sizeof(char *));
			}
			if (r->nodes == NULL && r->strs == NULL) {
				xmlXPathFreeObject(obj);
				goto done;
			}
			for (i = 0; i < n; i++) {
				xmlNodePtr cur = set->nodeTab[i];
				if (wantNodes) {
					// Namespace nodes in a node set are copies owned by the
					// result object, so they cannot outlive it.
					if (cur->type == XML_NAMESPACE_DECL) {
						r->nonTree = 1;
					}
					r->nodes[i] = cur;
				} else {
					r->strs[i] = (char *) xmlXPathCastNodeToString(cur);
				}
			}
		}
		r->n = n;
	} else if (!wantNodes) {
		r->strs = (char **) calloc(1, sizeof(char *));
		if (r->strs == NULL) {
			xmlXPathFreeObject(obj);
			goto done;
		}
		r->strs[0] = (char *) xmlXPathCastToString(obj);
		r->n = 1;
	}
	xmlXPathFreeObject(obj);
	rc = 0;
done:
	xmlXPathFreeContext(ctx);
	kp_restore(s);
	return rc;
}

char *kp_node_string(xmlNodePtr node) {
	return (char *) xmlXPathCastNodeToString(node);
}

void kp_xmlfree(void *p) { xmlFree(p); }

xmlSchemaPtr kp_schema_parse_file(const char *path, kp_errs *errs) {
	kp_saved s = kp_quiet(errs);
	xmlSchemaPtr schema = NULL;
	xmlSchemaParserCtxtPtr pctxt = xmlSchemaNewParserCtxt(path);
	if (pctxt != NULL) {
		xmlSchemaSetParserStructuredErrors(pctxt, kp_errs_add, errs);
		schema = xmlSchemaParse(pctxt);
		xmlSchemaFreeParserCtxt(pctxt);
	}
	kp_restore(s);
	return schema;
}

// kp_schema_validate validates doc with a fresh validation context, so
// one compiled schema serves any number of concurrent callers.
int kp_schema_validate(xmlSchemaPtr schema, xmlDocPtr doc, kp_errs *errs) {
	kp_saved s = kp_quiet(errs);
	int rc = -1;
	xmlSchemaValidCtxtPtr vctxt = xmlSchemaNewValidCtxt(schema);
	if (vctxt != NULL) {
		xmlSchemaSetValidStructuredErrors(vctxt, kp_errs_add, errs);
		rc = xmlSchemaValidateDoc(vctxt, doc);
		xmlSchemaFreeValidCtxt(vctxt);
	}
	kp_restore(s);
	return rc;
}
