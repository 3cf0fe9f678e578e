/* fuzz_request: libFuzzer target for request lines: the JSON-RPC parser, the envelope, every
 * method's parameter checks and prepare, and the replies to what they refuse, as hbpoold runs
 * them, with no gateway call. The api's one gateway holds a single queued call that never runs
 * (max_queue 1, the loop never dispatched), so every later call is refused when submitted, as a
 * full queue refuses it, and answered at once. */
#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "api.h"
#include "cluster.h"
#include "config.h"
#include "protocol.h"
#include "xmalloc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static api *g_api;
static const api_caller g_caller = {1, NULL}; /* no [access]: every method runs */
/* Inputs of odd length run as a client that [access] confines and makes read-only, so that the
 * checks of the rule and of every table parameter against it run on whatever parses. */
static const config_access_rule g_confined_rule = {
  .text = "uid:1 = read-only tables=fz_a",
  .who = CONFIG_ACCESS_UID,
  .id = 1,
  .verdict = CONFIG_ACCESS_READ_ONLY,
  .tables = "fz_a",
};
static const api_caller g_confined = {2, &g_confined_rule};

static void on_reply(void *owner, char *line) {
  (void)owner;
  free(line);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  xmalloc_init();
  static config cfg;
  config_defaults(&cfg);
  cfg.gateways[0].max_queue = 1;
  cfg.gateways[0].pool_size = 1;
  cfg.gateways[0].lazy_connect = true;
  free(cfg.table_prefix);
  cfg.table_prefix = xstrdup("fz");
  struct event_base *base = event_base_new();
  hb_error err = HB_ERROR_INIT;
  cluster *gateways = cluster_new(base, &cfg, &err);
  if (gateways == NULL)
    abort();
  g_api = api_new(gateways, &cfg, NULL, NULL);
  /* The call that takes the queue's one place. */
  api_call(g_api, json_pack("{s:s,s:i,s:s}", "jsonrpc", "2.0", "id", 0, "method", "tables"),
           &g_caller, on_reply, NULL);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  proto_error e = {0};
  json_t *v = proto_parse_line((const char *)data, size, &e);
  proto_error_clear(&e);
  if (v == NULL)
    return 0;
  const api_caller *who = size % 2 == 1 ? &g_confined : &g_caller;
  if (!json_is_array(v)) {
    api_call(g_api, v, who, on_reply, NULL);
    return 0;
  }
  for (size_t i = 0; i < json_array_size(v); i++)
    api_call(g_api, json_incref(json_array_get(v, i)), who, on_reply, NULL);
  json_decref(v);
  return 0;
}
