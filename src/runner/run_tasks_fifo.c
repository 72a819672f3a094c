/*
 * run_tasks_fifo.c - the deduplication window of the local FIFO queues
 * (sqs:sendMessage to a FifoQueue, run_tasks_msg.c). As SQS: a message
 * whose MessageDeduplicationId (given, or with ContentBasedDeduplication
 * the SHA-256 of its body) was sent in the last 5 minutes is accepted and
 * answered with the first one's MessageId and SequenceNumber, and nothing
 * new is written. The window is per queue (SQS's default
 * DeduplicationScope, "queue").
 *
 * A resent task (sfnd restarted before the task's result was committed)
 * must find the first send: the window is read back from the queue's
 * .jsonl the first time the queue is used (its last 1 MB; lines carry
 * SentTimestamp), a small read on the loop, once per queue.
 *
 * Threading: the loop's thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run_tasks_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAIL_BYTES (1 << 20)

static void prune(svc_queue *q, int64_t now_ms)
{
    size_t k = 0;
    while (k < q->ndedup && now_ms - q->dedup[k].at_ms >= SQS_DEDUP_WINDOW_MS)
        k++;
    if (k) {
        memmove(q->dedup, q->dedup + k, (q->ndedup - k) * sizeof *q->dedup);
        q->ndedup -= k;
    }
}

int run__fifo_remember(svc_queue *q, const char *id, const char *mid, const char *seq,
                       int64_t at_ms)
{
    if (strlen(id) >= sizeof q->dedup->id)
        return -1;
    if (q->ndedup == q->capdedup) {
        size_t cap = q->capdedup ? q->capdedup * 2 : 16;
        svc_dedup *n = realloc(q->dedup, cap * sizeof *n);
        if (n == NULL)
            return -1;
        q->dedup = n;
        q->capdedup = cap;
    }
    svc_dedup *d = &q->dedup[q->ndedup++];
    snprintf(d->id, sizeof d->id, "%s", id);
    snprintf(d->mid, sizeof d->mid, "%s", mid);
    snprintf(d->seq, sizeof d->seq, "%s", seq ? seq : "");
    d->at_ms = at_ms;
    return 0;
}

/* The window from the last lines of <data>/sqs/<name>.jsonl. */
static void load(run_svc *s, svc_queue *q, int64_t now_ms)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/sqs/%s.jsonl", s->data_dir, q->name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    char *buf = NULL;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0) {
        off_t from = st.st_size > TAIL_BYTES ? st.st_size - TAIL_BYTES : 0;
        size_t len = (size_t)(st.st_size - from);
        buf = malloc(len + 1);
        if (buf)
            n = pread(fd, buf, len, from);
    }
    close(fd);
    if (buf == NULL || n < 0) {
        free(buf);
        return;
    }
    buf[n] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        const char *id = json_string_value(json_object_get(j, "MessageDeduplicationId"));
        const char *mid = json_string_value(json_object_get(j, "MessageId"));
        const char *seq = json_string_value(json_object_get(j, "SequenceNumber"));
        const char *at = json_string_value(json_object_get(j, "SentTimestamp"));
        if (id && mid && at && now_ms - atoll(at) < SQS_DEDUP_WINDOW_MS) {
            int dup = 0; /* a line written as a duplicate's is not one: keep the first */
            for (size_t i = 0; i < q->ndedup && !dup; i++)
                dup = !strcmp(q->dedup[i].id, id);
            if (!dup)
                run__fifo_remember(q, id, mid, seq, atoll(at));
        }
        json_decref(j);
    }
    free(buf);
}

const svc_dedup *run__fifo_seen(run_svc *s, svc_queue *q, const char *id, int64_t now_ms)
{
    if (!q->dedup_loaded) {
        q->dedup_loaded = 1;
        load(s, q, now_ms);
    }
    prune(q, now_ms);
    for (size_t i = 0; i < q->ndedup; i++)
        if (!strcmp(q->dedup[i].id, id))
            return &q->dedup[i];
    return NULL;
}

void run__fifo_free(svc_queue *q)
{
    free(q->dedup);
    q->dedup = NULL;
    q->ndedup = q->capdedup = 0;
}
