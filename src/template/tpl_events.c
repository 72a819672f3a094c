/*
 * tpl_events.c - the template's messaging resources: AWS::SQS::Queue,
 * AWS::Events::EventBus and AWS::Events::Rule (its targets that are state
 * machines of the template). See tpl.h and docs/integrations.md.
 *
 * Pass 1 (tpl__name_events) gives each its ARN (and a queue its URL) so
 * that any !Ref / !GetAtt resolves; pass 2 (tpl__load_evrule) reads a
 * rule's pattern and targets once every name is known.
 *
 * Must not: touch the file system.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tpl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *tpl__bus_name(const char *v)
{
    if (v == NULL || v[0] == '\0')
        return "default";
    const char *b = strstr(v, ":event-bus/");
    return b ? b + strlen(":event-bus/") : v;
}

/* A boolean property given as true/false or "true"/"false". */
static int prop_true(tpl *t, const json_t *props, const char *key)
{
    const json_t *v = json_object_get(props, key);
    if (v == NULL)
        return 0;
    json_t *e = tpl__eval(t, v, 0);
    int yes = json_is_true(e) || (json_is_string(e) && !strcmp(json_string_value(e), "true"));
    json_decref(e);
    return yes;
}

int tpl__name_events(tpl *t, res *r)
{
    if (r->kind == R_QUEUE) {
        int fifo = prop_true(t, r->props, "FifoQueue");
        size_t n = strlen(r->name);
        if (fifo && json_object_get(r->props, "QueueName") == NULL)
            r->name = keepf(t, "%s.fifo", r->name);
        else if (fifo != (n > 5 && !strcmp(r->name + n - 5, ".fifo")))
            return fail(t, "Resources.%s.QueueName: a FIFO queue's name must end in .fifo, "
                           "and only a FIFO queue's",
                        r->logical_id);
        r->arn = keepf(t, "arn:aws:sqs:%s:%s:%s", t->region, t->account, r->name);
        r->url = keepf(t, "https://sqs.%s.amazonaws.com/%s/%s", t->region, t->account, r->name);
        if (!r->name || !r->arn || !r->url)
            return -ENOMEM;
        tpl_queue *q = &t->queues[t->nqueues++];
        q->logical_id = r->logical_id;
        q->name = r->name;
        q->arn = r->arn;
        q->url = r->url;
        q->fifo = fifo;
        q->content_dedup = prop_true(t, r->props, "ContentBasedDeduplication");
    } else if (r->kind == R_BUS) {
        if (json_object_get(r->props, "Name") == NULL)
            return fail(t, "Resources.%s.Name: an AWS::Events::EventBus needs a Name",
                        r->logical_id);
        r->arn = keepf(t, "arn:aws:events:%s:%s:event-bus/%s", t->region, t->account, r->name);
        if (r->arn == NULL)
            return -ENOMEM;
        tpl_bus *b = &t->buses[t->nbuses++];
        b->logical_id = r->logical_id;
        b->name = r->name;
        b->arn = r->arn;
    } else if (r->kind == R_EVRULE) {
        const char *bus = tpl__bus_name(tpl__eval_str(t, r->props, "EventBusName"));
        if (t->err[0])
            return fail(t, "Resources.%s.EventBusName: %s", r->logical_id, t->err);
        if (!strcmp(bus, "default"))
            r->arn = keepf(t, "arn:aws:events:%s:%s:rule/%s", t->region, t->account, r->name);
        else
            r->arn = keepf(t, "arn:aws:events:%s:%s:rule/%s/%s", t->region, t->account, bus,
                           r->name);
        if (r->arn == NULL)
            return -ENOMEM;
    }
    return 0;
}

/* One target of rule r: a state machine of the template gets a tpl_evtarget;
 * anything else is listed as not provided. */
static int load_target(tpl *t, const res *r, const char *bus, json_t *pattern, size_t k,
                       const json_t *tg)
{
    const char *arn = tpl__eval_str(t, tg, "Arn");
    const char *tid = tpl__eval_str(t, tg, "Id");
    if (t->err[0] || arn == NULL)
        return fail(t, "Resources.%s.Targets[%zu]: %s", r->logical_id, k,
                    t->err[0] ? t->err : "no Arn");
    int is_sm = 0;
    for (size_t i = 0; i < t->nres && !is_sm; i++)
        is_sm = t->res[i].kind == R_STATE_MACHINE && t->res[i].arn &&
                !strcmp(t->res[i].arn, arn);
    if (!is_sm) {
        t->unsupported[t->nunsupported++] =
            keepf(t, "%s.Targets[%zu] (%s: only the template's state machines are targets "
                     "locally)",
                  r->logical_id, k, arn);
        return 0;
    }
    if (json_object_get(tg, "InputTransformer"))
        return fail(t, "Resources.%s.Targets[%zu]: InputTransformer is not provided locally "
                       "(use Input or InputPath)",
                    r->logical_id, k);
    tpl_evtarget *e = &t->evtargets[t->nevtargets];
    e->rule_logical_id = r->logical_id;
    e->sm_arn = arn;
    e->rule.id = keepf(t, "%s.%s", r->logical_id, tid ? tid : "target");
    e->rule.bus = bus;
    e->rule.pattern = pattern;
    e->rule.input = tpl__eval_str(t, tg, "Input");
    e->rule.input_path = tpl__eval_str(t, tg, "InputPath");
    if (t->err[0])
        return fail(t, "Resources.%s.Targets[%zu]: %s", r->logical_id, k, t->err);
    if (e->rule.id == NULL)
        return -ENOMEM;
    if (e->rule.input && e->rule.input_path)
        return fail(t, "Resources.%s.Targets[%zu]: Input and InputPath are mutually exclusive",
                    r->logical_id, k);
    if (e->rule.input) {
        json_error_t je;
        json_t *j = json_loads(e->rule.input, JSON_DECODE_ANY, &je);
        if (j == NULL)
            return fail(t, "Resources.%s.Targets[%zu].Input: not JSON: %s", r->logical_id, k,
                        je.text);
        json_decref(j);
    }
    if (e->rule.input_path && e->rule.input_path[0] != '$')
        return fail(t, "Resources.%s.Targets[%zu].InputPath: must start with $", r->logical_id,
                    k);
    t->nevtargets++;
    return 0;
}

int tpl__load_evrule(tpl *t, const res *r)
{
    const char *bus = tpl__bus_name(tpl__eval_str(t, r->props, "EventBusName"));
    const char *state = tpl__eval_str(t, r->props, "State");
    if (t->err[0])
        return fail(t, "Resources.%s: %s", r->logical_id, t->err);
    const json_t *pin = json_object_get(r->props, "EventPattern");
    if (pin == NULL) {
        t->unsupported[t->nunsupported++] =
            keepf(t, "%s (AWS::Events::Rule without an EventPattern)", r->logical_id);
        return 0;
    }
    if (state && strcmp(state, "ENABLED") != 0)
        return 0; /* DISABLED (and the other states) never fire */
    json_t *pattern = tpl__eval(t, pin, 0);
    if (json_is_string(pattern)) { /* CloudFormation takes the pattern as JSON text too */
        json_error_t je;
        json_t *j = json_loads(json_string_value(pattern), 0, &je);
        json_decref(pattern);
        pattern = j;
    }
    if (!json_is_object(pattern)) {
        json_decref(pattern);
        return fail(t, "Resources.%s.EventPattern: %s", r->logical_id,
                    t->err[0] ? t->err : "must be a map (or its JSON text)");
    }
    json_array_append_new(t->owned, pattern);
    const json_t *targets = json_object_get(r->props, "Targets");
    if (targets != NULL && !json_is_array(targets))
        return fail(t, "Resources.%s.Targets: must be a list", r->logical_id);
    size_t n = json_array_size(targets);
    tpl_evtarget *grown = realloc(t->evtargets, (t->nevtargets + n + 1) * sizeof *grown);
    if (grown == NULL)
        return -ENOMEM;
    t->evtargets = grown;
    for (size_t k = 0; k < n; k++) {
        int rc = load_target(t, r, bus, pattern, k, json_array_get(targets, k));
        if (rc != 0)
            return rc;
    }
    return 0;
}
