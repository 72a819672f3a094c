/*
 * tpl_yaml.c - YAML -> JSON for the SAM template loader (tpl_yaml_to_json):
 * libyaml's document tree as jansson values, plain scalars typed as YAML
 * 1.1 core does (null, booleans, integers, floats), and CloudFormation's
 * short-form tags (!Ref, !GetAtt, !Sub ...) rewritten to their long forms,
 * the tree CloudFormation would see from a JSON template.
 *
 * Must not: evaluate anything (tpl_intrinsic.c), know the template's
 * layout, recurse past TPL_MAX_DEPTH.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tpl_int.h"

#include <string.h>
#include <yaml.h>

static int is_int(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p == '\0')
        return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return strlen(s) < 19;
}

static int is_float(const char *s)
{
    const char *p = s;
    int digits = 0, dot = 0;
    if (*p == '-' || *p == '+')
        p++;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && !dot)
            dot = 1;
        else if ((*p == 'e' || *p == 'E') && digits) {
            p++;
            if (*p == '-' || *p == '+')
                p++;
            if (*p == '\0')
                return 0;
            for (; *p; p++)
                if (*p < '0' || *p > '9')
                    return 0;
            return 1;
        } else
            return 0;
    }
    return digits > 0 && dot;
}

static json_t *plain_scalar(const char *v)
{
    if (!strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
        !strcmp(v, "NULL"))
        return json_null();
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
        return json_true();
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        return json_false();
    if (is_int(v))
        return json_integer(strtoll(v, NULL, 10));
    if (is_float(v))
        return json_real(strtod(v, NULL));
    return json_string(v);
}

static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth, char *err,
                            size_t errlen);

static json_t *wrap_tag(const char *tag, json_t *v, yaml_node_t *n)
{
    if (v == NULL)
        return NULL;
    const char *name = tag + 1;
    json_t *o = json_object();
    if (o == NULL) {
        json_decref(v);
        return NULL;
    }
    if (!strcmp(name, "Ref")) {
        json_object_set_new(o, "Ref", v);
    } else if (!strcmp(name, "Condition")) {
        json_object_set_new(o, "Condition", v);
    } else if (!strcmp(name, "GetAtt") && json_is_string(v)) {
        /* !GetAtt A.B.C -> ["A", "B.C"]: the logical ID never has a dot */
        const char *s = json_string_value(v);
        const char *dot = strchr(s, '.');
        json_t *a = json_array();
        if (dot) {
            json_array_append_new(a, json_stringn(s, (size_t)(dot - s)));
            json_array_append_new(a, json_string(dot + 1));
        } else {
            json_array_append_new(a, json_string(s));
        }
        json_decref(v);
        json_object_set_new(o, "Fn::GetAtt", a);
    } else {
        char key[64];
        snprintf(key, sizeof key, "Fn::%s", name);
        json_object_set_new(o, key, v);
    }
    (void)n;
    return o;
}

static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth, char *err,
                            size_t errlen)
{
    if (n == NULL || depth > TPL_MAX_DEPTH) {
        snprintf(err, errlen, "line %lu: nesting too deep",
                 n ? (unsigned long)n->start_mark.line + 1 : 0UL);
        return NULL;
    }
    const char *tag = (const char *)n->tag;
    int local_tag = tag && tag[0] == '!' && tag[1] != '\0' && tag[1] != '!';
    json_t *v = NULL;
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;
        if (strlen(s) != n->data.scalar.length) {
            snprintf(err, errlen, "line %lu: NUL in scalar", (unsigned long)n->start_mark.line + 1);
            return NULL;
        }
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !local_tag &&
            (tag == NULL || !strcmp(tag, YAML_DEFAULT_SCALAR_TAG)))
            v = plain_scalar(s);
        else
            v = json_string(s);
        if (v == NULL)
            snprintf(err, errlen, "line %lu: invalid scalar (not UTF-8?)",
                     (unsigned long)n->start_mark.line + 1);
        break;
    }
    case YAML_SEQUENCE_NODE: {
        v = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             v && it < n->data.sequence.items.top; it++) {
            json_t *c = node_to_json(doc, yaml_document_get_node(doc, *it), depth + 1, err, errlen);
            if (c == NULL || json_array_append_new(v, c) != 0) {
                json_decref(v);
                return NULL;
            }
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        v = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             v && p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k == NULL || k->type != YAML_SCALAR_NODE) {
                snprintf(err, errlen, "line %lu: mapping key is not a scalar",
                         (unsigned long)n->start_mark.line + 1);
                json_decref(v);
                return NULL;
            }
            json_t *c = node_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1, err,
                                     errlen);
            if (c == NULL || json_object_set_new(v, (const char *)k->data.scalar.value, c) != 0) {
                json_decref(v);
                return NULL;
            }
        }
        break;
    }
    default:
        snprintf(err, errlen, "empty YAML node");
        return NULL;
    }
    if (v == NULL)
        return NULL;
    return local_tag ? wrap_tag(tag, v, n) : v;
}

json_t *tpl_yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;
    err[0] = '\0';
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "line %lu: %s", (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "YAML error");
        goto out_parser;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL)
        snprintf(err, errlen, "empty document");
    else
        out = node_to_json(&doc, root, 0, err, errlen);
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&parser);
    return out;
}
