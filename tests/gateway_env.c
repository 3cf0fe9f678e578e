/* gateway_env: the real gateway the integration tests use (see gateway_env.h). */
#include "gateway_env.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *gateway_env_need(const char *name) {
  const char *v = getenv(name);
  ck_assert_msg(v != NULL && *v != '\0', "%s must be set to stop and start the gateway", name);
  return v;
}

const char *gateway_env_name(void) {
  return gateway_env_need("HBPOOL_TEST_GATEWAY_NAME");
}

int gateway_env_script(const char *command, const char *gateway) {
  const char *script = gateway_env_need("HBPOOL_HBASE_SCRIPT");
  const char *run_dir = gateway_env_need("HBPOOL_HBASE_RUN_DIR");
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    /* Own session: Check kills the test's process group afterwards, which would take the
     * gateway that gateway-start leaves running with it. */
    setsid();
    if (freopen("/dev/null", "w", stdout) == NULL)
      _exit(127);
    execl(script, script, command, "--run-dir", run_dir, "--name", gateway, (char *)NULL);
    fprintf(stderr, "cannot run %s: %s\n", script, strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A 0/1 variable (unset means 0); false with a message for anything else. */
static bool env_flag(const char *prog, const char *name, bool *out) {
  const char *v = getenv(name);
  *out = v != NULL && strcmp(v, "1") == 0;
  if (v == NULL || *v == '\0' || strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
    return true;
  fprintf(stderr, "%s: %s must be 0 or 1, not '%s'\n", prog, name, v);
  return false;
}

bool gateway_env_load(hbc_options *out, const char *prog) {
  const char *host = getenv("HBPOOL_TEST_THRIFT_HOST");
  const char *port = getenv("HBPOOL_TEST_THRIFT_PORT");
  if (host == NULL || *host == '\0' || port == NULL || *port == '\0') {
    fprintf(stderr,
            "%s: HBPOOL_TEST_THRIFT_HOST and HBPOOL_TEST_THRIFT_PORT must name a "
            "running HBase Thrift1 gateway (tests/integration.sh starts one)\n",
            prog);
    return false;
  }
  char *end = NULL;
  long p = strtol(port, &end, 10);
  if (*end != '\0' || p < 1 || p > 65535) {
    fprintf(stderr, "%s: bad HBPOOL_TEST_THRIFT_PORT '%s'\n", prog, port);
    return false;
  }
  bool framed, compact, http;
  if (!env_flag(prog, "HBPOOL_TEST_THRIFT_FRAMED", &framed) ||
      !env_flag(prog, "HBPOOL_TEST_THRIFT_COMPACT", &compact) ||
      !env_flag(prog, "HBPOOL_TEST_THRIFT_HTTP", &http))
    return false;
  hbc_options_init(out);
  out->host = host;
  out->port = (int)p;
  out->framed = framed;
  out->http = http;
  out->protocol = compact ? HBC_PROTOCOL_COMPACT : HBC_PROTOCOL_BINARY;
  return true;
}

bool gateway_env_can_start(const char *prog) {
  static const char *const needed[] = {"HBPOOL_HBASE_SCRIPT", "HBPOOL_HBASE_RUN_DIR"};
  for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
    const char *v = getenv(needed[i]);
    if (v == NULL || *v == '\0') {
      fprintf(stderr,
              "%s: %s must be set: the test starts a gateway of its own with "
              "tests/hbase/hbase-local.sh (tests/integration.sh sets it)\n",
              prog, needed[i]);
      return false;
    }
  }
  return true;
}

bool gateway_env_read_own(const char *name, hbc_options *out, char *host_buf, size_t host_size) {
  char path[512], line[512];
  snprintf(path, sizeof path, "%s/gw-%s/env", getenv("HBPOOL_HBASE_RUN_DIR"), name);
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
    return false;
  }
  hbc_options_init(out);
  host_buf[0] = '\0';
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char *eq = strchr(line, '=');
    if (eq == NULL)
      continue;
    *eq = '\0';
    const char *value = eq + 1;
    if (strcmp(line, "HBPOOL_TEST_THRIFT_HOST") == 0)
      snprintf(host_buf, host_size, "%s", value);
    else if (strcmp(line, "HBPOOL_TEST_THRIFT_PORT") == 0)
      out->port = atoi(value);
    else if (strcmp(line, "HBPOOL_TEST_THRIFT_FRAMED") == 0)
      out->framed = strcmp(value, "1") == 0;
    else if (strcmp(line, "HBPOOL_TEST_THRIFT_COMPACT") == 0)
      out->protocol = strcmp(value, "1") == 0 ? HBC_PROTOCOL_COMPACT : HBC_PROTOCOL_BINARY;
    else if (strcmp(line, "HBPOOL_TEST_THRIFT_HTTP") == 0)
      out->http = strcmp(value, "1") == 0;
  }
  fclose(f);
  out->host = host_buf;
  return out->port > 0 && host_buf[0] != '\0';
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void gateway_env_forget_own(const char *name) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/gw-%s", getenv("HBPOOL_HBASE_RUN_DIR"), name);
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
