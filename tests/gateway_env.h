/* gateway_env: the real gateway the integration tests use, from HBPOOL_TEST_* variables, and
 * tests/hbase/hbase-local.sh to stop and start it. */
#ifndef HBPOOL_TEST_GATEWAY_ENV_H
#define HBPOOL_TEST_GATEWAY_ENV_H

#include <stdbool.h>

#include "hbase_client.h"

/* Fills out from HBPOOL_TEST_THRIFT_HOST/PORT/FRAMED/COMPACT/HTTP; false, with a message naming
 * prog, if they are missing or bad: integration tests never skip and pass. */
bool gateway_env_load(hbc_options *out, const char *prog);

/* Runs "hbase-local.sh COMMAND --run-dir $HBPOOL_HBASE_RUN_DIR --name GATEWAY" (script from
 * $HBPOOL_HBASE_SCRIPT) in its own session, stdout discarded; returns its exit status. A Check
 * assertion fails if a variable is missing. */
int gateway_env_script(const char *command, const char *gateway);

/* A gateway of the test's own (gateway-start --name NAME on the exported HBase). */
/* False, with a message naming prog, unless HBPOOL_HBASE_SCRIPT and HBPOOL_HBASE_RUN_DIR are set:
 * call from main(). */
bool gateway_env_can_start(const char *prog);
/* Fills out (host in host_buf) from that gateway's env file, without touching the environment;
 * false with a message if it cannot be read. */
bool gateway_env_read_own(const char *name, hbc_options *out, char *host_buf, size_t host_size);
/* Removes its directory once it is stopped: a stopped gateway left in a shared run dir would make
 * "hbase-local.sh status" fail. */
void gateway_env_forget_own(const char *name);

/* $HBPOOL_TEST_GATEWAY_NAME, or a Check failure when unset. */
const char *gateway_env_name(void);
/* The variable's value, or a Check failure naming it when unset. */
const char *gateway_env_need(const char *name);

#endif
