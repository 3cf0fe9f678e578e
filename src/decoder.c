/* decoder: parses large request lines on a thread of its own and hands the values back to the
 * loop thread, the way the pool hands back finished jobs. One thread is enough: large lines are
 * rare, and a client waits for its own line before anything else it sent is read. */
#include "decoder.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/queue.h>

#include "xmalloc.h"

typedef struct decode_job {
  struct evbuffer *line;
  json_t *value;
  proto_error err;
  decoder_done_fn done;
  void *owner;
  TAILQ_ENTRY(decode_job) link;
} decode_job;

TAILQ_HEAD(decode_list, decode_job);

struct decoder {
  struct event *completion_ev;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct decode_list queue, done;
  bool stopping;
};

static void job_free(decode_job *job) {
  if (job->line != NULL)
    evbuffer_free(job->line);
  json_decref(job->value);
  proto_error_clear(&job->err);
  free(job);
}

/* On the decoder's thread: the line pulled together in one piece, and parsed. */
static void parse(decode_job *job) {
  size_t len = evbuffer_get_length(job->line);
  const char *text = len > 0 ? (const char *)evbuffer_pullup(job->line, -1) : "";
  if (len > 0 && text[len - 1] == '\r')
    len--;
  if (!proto_line_blank(text, len))
    job->value = proto_parse_line(text, len, &job->err);
  evbuffer_free(job->line);
  job->line = NULL;
}

static void *decoder_main(void *arg) {
  decoder *d = arg;
  pthread_mutex_lock(&d->lock);
  for (;;) {
    while (!d->stopping && TAILQ_EMPTY(&d->queue))
      pthread_cond_wait(&d->wake, &d->lock);
    if (d->stopping)
      break;
    decode_job *job = TAILQ_FIRST(&d->queue);
    TAILQ_REMOVE(&d->queue, job, link);
    pthread_mutex_unlock(&d->lock);
    parse(job);
    pthread_mutex_lock(&d->lock);
    TAILQ_INSERT_TAIL(&d->done, job, link);
    event_active(d->completion_ev, EV_READ, 0);
  }
  pthread_mutex_unlock(&d->lock);
  return NULL;
}

static void run_completions(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  decoder *d = arg;
  struct decode_list ready = TAILQ_HEAD_INITIALIZER(ready);
  pthread_mutex_lock(&d->lock);
  TAILQ_CONCAT(&ready, &d->done, link);
  pthread_mutex_unlock(&d->lock);
  decode_job *job;
  while ((job = TAILQ_FIRST(&ready)) != NULL) {
    TAILQ_REMOVE(&ready, job, link);
    job->done(job->owner, job->value, &job->err);
    job->value = NULL; /* the callee's now */
    job_free(job);
  }
}

decoder *decoder_new(struct event_base *base, hb_error *err) {
  decoder *d = xcalloc(1, sizeof *d);
  TAILQ_INIT(&d->queue);
  TAILQ_INIT(&d->done);
  pthread_mutex_init(&d->lock, NULL);
  pthread_cond_init(&d->wake, NULL);
  d->completion_ev = event_new(base, -1, 0, run_completions, d);
  if (d->completion_ev == NULL || pthread_create(&d->thread, NULL, decoder_main, d) != 0) {
    if (d->completion_ev != NULL)
      event_free(d->completion_ev);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d);
    hb_error_set(err, HB_ERR_INVALID, "cannot start the request decoder thread");
    return NULL;
  }
  return d;
}

static void drop_all(struct decode_list *list) {
  decode_job *job;
  while ((job = TAILQ_FIRST(list)) != NULL) {
    TAILQ_REMOVE(list, job, link);
    job_free(job);
  }
}

void decoder_free(decoder *d) {
  if (d == NULL)
    return;
  pthread_mutex_lock(&d->lock);
  d->stopping = true;
  pthread_cond_signal(&d->wake);
  pthread_mutex_unlock(&d->lock);
  pthread_join(d->thread, NULL);
  drop_all(&d->queue);
  drop_all(&d->done);
  event_free(d->completion_ev);
  pthread_cond_destroy(&d->wake);
  pthread_mutex_destroy(&d->lock);
  free(d);
}

void decoder_parse(decoder *d, struct evbuffer *line, decoder_done_fn done, void *owner) {
  assert(d != NULL && line != NULL && done != NULL);
  decode_job *job = xcalloc(1, sizeof *job);
  *job = (decode_job){.line = line, .done = done, .owner = owner, .err = PROTO_ERROR_INIT};
  pthread_mutex_lock(&d->lock);
  TAILQ_INSERT_TAIL(&d->queue, job, link);
  pthread_cond_signal(&d->wake);
  pthread_mutex_unlock(&d->lock);
}
