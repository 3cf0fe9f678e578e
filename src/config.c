/* config: reads hbpoold's INI file with GLib's GKeyFile and validates every key (see config.h). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "xmalloc.h"

#define CONFIG_STRING_SOURCE "(string)"
/* A config file is a few KiB: anything this large was named by mistake (a log, a core file). */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)
#define CONFIG_WHY_SIZE 512
#define CONFIG_MAX_GATEWAY_NAME 64
#define MS_1H 3600000LL
#define MS_1D 86400000LL
/* Thrift message and string lengths are signed 32-bit: no reply can be larger, and a request
 * line or a client's output buffer beyond that is a typo, not a plan. */
#define BYTES_MAX 2147483647LL
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

typedef enum key_type {
  KEY_INT,    /* decimal, stored as int */
  KEY_SIZE,   /* decimal, stored as size_t */
  KEY_MODE,   /* octal file mode, stored as int */
  KEY_BOOL,   /* true | false */
  KEY_CHOICE, /* one of choices, stored as a string */
  KEY_SWITCH, /* one of two choices, stored as a bool: whether the second one was chosen */
  KEY_ENUM,   /* one of choices, stored as an int: its index */
  KEY_STRING, /* stored as a string once check accepts it */
} key_type;

typedef struct key_spec {
  const char *name;
  key_type type;
  size_t offset;              /* of the field in config or config_gateway */
  long long min, max;         /* numbers */
  const char *const *choices; /* KEY_CHOICE, KEY_SWITCH; NULL-terminated */
  /* KEY_STRING: true to accept the value, or false with what is wrong and allowed in why. */
  bool (*check)(const char *value, char *why, size_t why_size);
  bool empty_is_null; /* KEY_STRING: an empty value means "off" (NULL) */
} key_spec;

static bool check_listen_socket(const char *value, char *why, size_t why_size);
static bool check_listen_tcp(const char *value, char *why, size_t why_size);
static bool check_metrics_listen(const char *value, char *why, size_t why_size);
static bool check_table_name_part(const char *value, char *why, size_t why_size);
static bool check_host(const char *value, char *why, size_t why_size);
static bool check_http_path(const char *value, char *why, size_t why_size);

static const char *const LOG_LEVELS[] = {"error", "warning", "info", "debug", NULL};
/* In config_transport's order. */
static const char *const TRANSPORTS[] = {"buffered", "framed", "http", NULL};
static const char *const PROTOCOLS[] = {"binary", "compact", NULL};
static const char *const BALANCES[] = {"least_busy", "ordered", NULL};

#define DKEY(field, type_) .name = #field, .type = type_, .offset = offsetof(config, field)
static const key_spec DAEMON_KEYS[] = {
  {DKEY(listen_socket, KEY_STRING), .check = check_listen_socket},
  {DKEY(listen_socket_mode, KEY_MODE), .min = 0, .max = 0777},
  {DKEY(listen_tcp, KEY_STRING), .check = check_listen_tcp, .empty_is_null = true},
  {DKEY(metrics_listen, KEY_STRING), .check = check_metrics_listen, .empty_is_null = true},
  {DKEY(max_clients, KEY_INT), .min = 1, .max = 1048576},
  {DKEY(max_line_bytes, KEY_SIZE), .min = 1024, .max = BYTES_MAX},
  {DKEY(max_requests_per_client, KEY_INT), .min = 1, .max = 65536},
  {DKEY(max_output_bytes_per_client, KEY_SIZE), .min = 1024, .max = BYTES_MAX},
  {DKEY(client_reply_window_bytes, KEY_SIZE), .min = 0, .max = BYTES_MAX},
  {DKEY(max_buffered_bytes, KEY_SIZE), .min = 2048, .max = 1099511627776LL},
  {DKEY(client_idle_timeout_ms, KEY_INT), .min = 0, .max = INT32_MAX},
  {DKEY(client_output_timeout_ms, KEY_INT), .min = 0, .max = INT32_MAX},
  {DKEY(log_level, KEY_CHOICE), .choices = LOG_LEVELS},
  {DKEY(log_syslog, KEY_BOOL)},
  {DKEY(table_prefix, KEY_STRING), .check = check_table_name_part},
  {DKEY(table_prefix_separator, KEY_STRING), .check = check_table_name_part},
  {DKEY(scan_max_rows, KEY_INT), .min = 1, .max = 1000000},
  {DKEY(max_cell_bytes, KEY_SIZE), .min = 0, .max = BYTES_MAX},
  {DKEY(scanner_read_ahead, KEY_BOOL)},
  {DKEY(scanner_idle_timeout_ms, KEY_INT), .min = 1000, .max = MS_1D},
  {DKEY(scan_keep_open_ms, KEY_INT), .min = 0, .max = MS_1D},
  {DKEY(shutdown_timeout_ms, KEY_INT), .min = 0, .max = MS_1H},
  {.name = "balance",
   .type = KEY_SWITCH,
   .offset = offsetof(config, balance_ordered),
   .choices = BALANCES},
};

#define GKEY(field, type_) .name = #field, .type = type_, .offset = offsetof(config_gateway, field)
static const key_spec GATEWAY_KEYS[] = {
  {GKEY(host, KEY_STRING), .check = check_host},
  {GKEY(port, KEY_INT), .min = 1, .max = 65535},
  {GKEY(transport, KEY_ENUM), .choices = TRANSPORTS},
  {GKEY(path, KEY_STRING), .check = check_http_path},
  {.name = "protocol",
   .type = KEY_SWITCH,
   .offset = offsetof(config_gateway, compact),
   .choices = PROTOCOLS},
  {GKEY(pool_size, KEY_INT), .min = 1, .max = 1024},
  {GKEY(lazy_connect, KEY_BOOL)},
  {GKEY(connect_timeout_ms, KEY_INT), .min = 1, .max = MS_1H},
  {GKEY(request_timeout_ms, KEY_INT), .min = 1, .max = MS_1H},
  {GKEY(queue_timeout_ms, KEY_INT), .min = 1, .max = MS_1H},
  {GKEY(max_queue, KEY_INT), .min = 1, .max = 1048576},
  {GKEY(idle_refresh_ms, KEY_INT), .min = 1000, .max = MS_1D},
  {GKEY(reconnect_min_ms, KEY_INT), .min = 1, .max = MS_1H},
  {GKEY(reconnect_max_ms, KEY_INT), .min = 1, .max = MS_1H},
  {GKEY(max_message_bytes, KEY_SIZE), .min = 1024, .max = BYTES_MAX},
  {GKEY(coalesce, KEY_BOOL)},
  {GKEY(coalesce_max_rows, KEY_INT), .min = 1, .max = 10000},
  {GKEY(max_scan_connections, KEY_INT), .min = 0, .max = 1024},
  {GKEY(max_pool_share, KEY_INT), .min = 0, .max = 1024},
};

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static void replace_string(char **field, char *value) {
  free(*field);
  *field = value;
}

static void gateway_defaults(config_gateway *g, const char *name) {
  *g = (config_gateway){
    .name = xstrdup(name),
    .host = xstrdup("localhost"),
    .port = 9090,
    .path = xstrdup("/"),
    .pool_size = 8,
    .connect_timeout_ms = 5000,
    .request_timeout_ms = 30000,
    .queue_timeout_ms = 5000,
    .max_queue = 4096,
    .idle_refresh_ms = 50000,
    .reconnect_min_ms = 100,
    .reconnect_max_ms = 10000,
    .max_message_bytes = 268435456,
    .coalesce = true,
    .coalesce_max_rows = 100,
    .max_scan_connections = 1,
  };
}

void config_defaults(config *c) {
  *c = (config){
    .listen_socket = xstrdup("/run/hbpool/hbpoold.sock"),
    .listen_socket_mode = 0660,
    .max_clients = 1024,
    .max_line_bytes = 16777216,
    .max_requests_per_client = 256,
    .max_output_bytes_per_client = 67108864,
    .client_reply_window_bytes = 262144,
    .max_buffered_bytes = 268435456,
    .client_output_timeout_ms = 60000,
    .log_level = xstrdup("info"),
    .table_prefix = xstrdup(""),
    .table_prefix_separator = xstrdup("_"),
    .scan_max_rows = 1000,
    .max_cell_bytes = 10485760,
    .scanner_read_ahead = true,
    .scanner_idle_timeout_ms = 300000,
    .scan_keep_open_ms = 10000,
    .shutdown_timeout_ms = 10000,
    .gateways = xcalloc(1, sizeof(config_gateway)),
    .ngateways = 1,
  };
  gateway_defaults(&c->gateways[0], "main");
}

static void gateway_free(config_gateway *g) {
  free(g->name);
  free(g->host);
  free(g->path);
}

void config_free(config *c) {
  free(c->listen_socket);
  free(c->listen_tcp);
  free(c->metrics_listen);
  free(c->log_level);
  free(c->table_prefix);
  free(c->table_prefix_separator);
  for (size_t i = 0; i < c->ngateways; i++)
    gateway_free(&c->gateways[i]);
  free(c->gateways);
  for (size_t i = 0; i < c->naccess; i++) {
    free(c->access[i].text);
    free(c->access[i].tables);
  }
  free(c->access);
  memset(c, 0, sizeof *c);
}

/* ---- errors --------------------------------------------------------------------------------- */

static bool why_fail(char *why, size_t why_size, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

static bool why_fail(char *why, size_t why_size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_size, fmt, ap);
  va_end(ap);
  return false;
}

/* "SOURCE: [SECTION] KEY: what", or "SOURCE: [SECTION]: what" without a key. */
static int located_error(hb_error *err, const char *source, const char *group, const char *key,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int located_error(hb_error *err, const char *source, const char *group, const char *key,
                         const char *fmt, ...) {
  char what[CONFIG_WHY_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (key == NULL)
    return hb_error_set(err, HB_ERR_INVALID, "%s: [%s]: %s", source, group, what);
  return hb_error_set(err, HB_ERR_INVALID, "%s: [%s] %s: %s", source, group, key, what);
}

/* ---- values --------------------------------------------------------------------------------- */

/* Digits of base with an optional leading minus and nothing else, so that "1e3", "0x10", "+5" and
 * "5 # comment" are refused. A value too large for long long comes back as LLONG_MAX or
 * LLONG_MIN, which every range check then reports as out of range. */
static int parse_integer(const char *s, int base, long long *out) {
  const char *digits = s[0] == '-' ? s + 1 : s;
  const char *allowed = base == 8 ? "01234567" : "0123456789";
  if (*digits == '\0' || strspn(digits, allowed) != strlen(digits))
    return -1;
  *out = strtoll(s, NULL, base);
  return 0;
}

static void format_range(const key_spec *k, char *buf, size_t size) {
  if (k->type == KEY_MODE)
    snprintf(buf, size, "%04llo..%04llo (octal)", k->min, k->max);
  else
    snprintf(buf, size, "%lld..%lld", k->min, k->max);
}

static bool set_number(const key_spec *k, const char *value, void *field, char *why,
                       size_t why_size) {
  char range[64];
  format_range(k, range, sizeof range);
  long long n;
  if (parse_integer(value, k->type == KEY_MODE ? 8 : 10, &n) < 0)
    return why_fail(why, why_size, "\"%s\" is not %s; allowed %s", value,
                    k->type == KEY_MODE ? "an octal number" : "a whole number", range);
  if (n < k->min || n > k->max)
    return why_fail(why, why_size, "\"%s\" is out of range; allowed %s", value, range);
  if (k->type == KEY_SIZE)
    *(size_t *)field = (size_t)n;
  else
    *(int *)field = (int)n;
  return true;
}

static bool set_bool(const char *value, bool *field, char *why, size_t why_size) {
  if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
    *field = strcmp(value, "true") == 0;
    return true;
  }
  return why_fail(why, why_size, "\"%s\" is not a boolean; allowed: true, false", value);
}

static bool set_choice(const key_spec *k, const char *value, void *field, char *why,
                       size_t why_size) {
  for (size_t i = 0; k->choices[i] != NULL; i++) {
    if (strcmp(value, k->choices[i]) != 0)
      continue;
    if (k->type == KEY_SWITCH)
      *(bool *)field = i == 1;
    else if (k->type == KEY_ENUM)
      *(int *)field = (int)i;
    else
      replace_string(field, xstrdup(value));
    return true;
  }
  char allowed[CONFIG_WHY_SIZE / 2] = "";
  for (size_t i = 0; k->choices[i] != NULL; i++) {
    size_t len = strlen(allowed);
    snprintf(allowed + len, sizeof allowed - len, "%s%s", i > 0 ? ", " : "", k->choices[i]);
  }
  return why_fail(why, why_size, "\"%s\" is not a valid value; allowed: %s", value, allowed);
}

static bool set_string(const key_spec *k, const char *value, char **field, char *why,
                       size_t why_size) {
  if (k->check != NULL && !k->check(value, why, why_size))
    return false;
  replace_string(field, k->empty_is_null && *value == '\0' ? NULL : xstrdup(value));
  return true;
}

static bool set_value(const key_spec *k, const char *value, void *base, char *why,
                      size_t why_size) {
  void *field = (char *)base + k->offset;
  switch (k->type) {
  case KEY_INT:
  case KEY_SIZE:
  case KEY_MODE: return set_number(k, value, field, why, why_size);
  case KEY_BOOL: return set_bool(value, field, why, why_size);
  case KEY_CHOICE:
  case KEY_SWITCH:
  case KEY_ENUM: return set_choice(k, value, field, why, why_size);
  case KEY_STRING: return set_string(k, value, field, why, why_size);
  }
  return why_fail(why, why_size, "internal error: key type %d", (int)k->type);
}

/* ---- string checks -------------------------------------------------------------------------- */

static bool check_listen_socket(const char *value, char *why, size_t why_size) {
  if (value[0] != '/')
    return why_fail(why, why_size, "\"%s\" is not an absolute path; allowed a path starting with /",
                    value);
  for (const char *p = value; *p != '\0'; p++)
    if ((unsigned char)*p < ' ' || *p == 0x7f)
      return why_fail(why, why_size, "contains a control character; allowed a plain path");
  if (strlen(value) > SUN_PATH_MAX)
    return why_fail(why, why_size, "is %zu bytes long; a Unix socket path allows at most %zu",
                    strlen(value), SUN_PATH_MAX);
  return true;
}

static bool check_listen_tcp(const char *value, char *why, size_t why_size) {
  if (*value == '\0')
    return true;
  char host[INET6_ADDRSTRLEN];
  int port;
  hb_error e = HB_ERROR_INIT;
  if (config_listen_tcp_split(value, host, sizeof host, &port, &e) == 0)
    return true;
  why_fail(why, why_size, "%s", e.message != NULL ? e.message : "out of memory");
  hb_error_clear(&e);
  return false;
}

/* The metrics endpoint has no authentication either: loopback TCP, or a Unix socket whose
 * permissions say who may read. */
static bool check_metrics_listen(const char *value, char *why, size_t why_size) {
  static const char unix_prefix[] = CONFIG_UNIX_PREFIX;
  if (strncmp(value, unix_prefix, sizeof unix_prefix - 1) == 0)
    return check_listen_socket(value + sizeof unix_prefix - 1, why, why_size);
  if (check_listen_tcp(value, why, why_size))
    return true;
  char tcp_why[CONFIG_WHY_SIZE];
  snprintf(tcp_why, sizeof tcp_why, "%s", why);
  return why_fail(why, why_size, "%s; or unix:/PATH for a Unix socket", tcp_why);
}

/* HBase table names are letters, digits, _ - and ., with : between a namespace and the name. */
static bool check_table_name_part(const char *value, char *why, size_t why_size) {
  static const char allowed[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:";
  if (strspn(value, allowed) == strlen(value))
    return true;
  return why_fail(why, why_size,
                  "\"%s\" has a character HBase does not allow in a table name; allowed: letters, "
                  "digits, _ - . and : (a namespace's separator)",
                  value);
}

const char *config_transport_name(int transport) {
  return transport >= 0 && transport <= CONFIG_HTTP ? TRANSPORTS[transport] : "?";
}

/* An absolute path of printable ASCII without spaces, as it goes into the request line. */
static bool check_http_path(const char *value, char *why, size_t why_size) {
  static const char *const allowed = "allowed an absolute URL path such as / or /hbase";
  if (value[0] != '/')
    return why_fail(why, why_size, "\"%s\" does not start with /; %s", value, allowed);
  if (strlen(value) > CONFIG_HTTP_PATH_MAX)
    return why_fail(why, why_size, "is longer than %d bytes; %s", CONFIG_HTTP_PATH_MAX, allowed);
  for (const char *p = value; *p != '\0'; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
      return why_fail(why, why_size, "\"%s\" contains a space or a non-ASCII character; %s", value,
                      allowed);
  return true;
}

static bool check_host(const char *value, char *why, size_t why_size) {
  static const char *const allowed = "allowed a host name or an IP address";
  if (*value == '\0')
    return why_fail(why, why_size, "is empty; %s", allowed);
  for (const char *p = value; *p != '\0'; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
      return why_fail(why, why_size, "\"%s\" contains a space or a non-ASCII character; %s", value,
                      allowed);
  if (strpbrk(value, "[]") != NULL)
    return why_fail(why, why_size, "\"%s\": write an IPv6 address without brackets", value);
  const char *colon = strchr(value, ':');
  if (colon != NULL && strchr(colon + 1, ':') == NULL)
    return why_fail(why, why_size, "\"%s\" looks like HOST:PORT; put the port in the port key",
                    value);
  return true;
}

static bool check_gateway_name(const char *name, char *why, size_t why_size) {
  static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.";
  if (*name == '\0' || strlen(name) > CONFIG_MAX_GATEWAY_NAME ||
      strspn(name, allowed) != strlen(name))
    return why_fail(why, why_size,
                    "\"%s\" is not a valid gateway name; allowed: 1 to %d letters, digits, "
                    "_ - and .",
                    name, CONFIG_MAX_GATEWAY_NAME);
  return true;
}

static bool is_loopback(const char *host, bool bracketed) {
  if (bracketed) {
    struct in6_addr a6;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
  }
  struct in_addr a4;
  return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* The TCP listener has no authentication: anything but loopback would open HBase to the network. */
int config_listen_tcp_split(const char *value, char *host, size_t host_size, int *port,
                            hb_error *err) {
  const char *colon = strrchr(value, ':');
  bool bracketed = value[0] == '[';
  size_t len = colon != NULL ? (size_t)(colon - value) : 0;
  if (len < 2 || (bracketed && colon[-1] != ']') || (!bracketed && strchr(value, ']') != NULL))
    return hb_error_set(err, HB_ERR_INVALID,
                        "\"%s\" is not ADDRESS:PORT; allowed 127.0.0.1:PORT (any address in "
                        "127.0.0.0/8) or [::1]:PORT",
                        value);
  const char *start = bracketed ? value + 1 : value;
  len = bracketed ? len - 2 : len;
  char addr[INET6_ADDRSTRLEN];
  if (len >= sizeof addr || len >= host_size)
    return hb_error_set(err, HB_ERR_INVALID, "\"%s\": the address is too long", value);
  memcpy(addr, start, len);
  addr[len] = '\0';
  if (!is_loopback(addr, bracketed))
    return hb_error_set(err, HB_ERR_INVALID,
                        "\"%s\" is not a loopback address; the TCP listener has no "
                        "authentication, so only 127.0.0.0/8 and [::1] are allowed",
                        addr);
  long long n;
  if (parse_integer(colon + 1, 10, &n) < 0 || n < 1 || n > 65535)
    return hb_error_set(err, HB_ERR_INVALID, "port \"%s\" is not valid; allowed 1..65535",
                        colon + 1);
  memcpy(host, addr, len + 1);
  *port = (int)n;
  return 0;
}

/* ---- sections and keys ---------------------------------------------------------------------- */

static const key_spec *find_key(const key_spec *specs, size_t nspecs, const char *name) {
  for (size_t i = 0; i < nspecs; i++)
    if (strcmp(specs[i].name, name) == 0)
      return &specs[i];
  return NULL;
}

static int unknown_key(const char *source, const char *group, const char *key,
                       const key_spec *specs, hb_error *err) {
  /* A key put under the wrong section is the likely mistake, and worth saying so. */
  if (specs == DAEMON_KEYS && find_key(GATEWAY_KEYS, NKEYS(GATEWAY_KEYS), key) != NULL)
    return located_error(err, source, group, key,
                         "unknown key here; it belongs in a [gateway] "
                         "section");
  if (specs == GATEWAY_KEYS && find_key(DAEMON_KEYS, NKEYS(DAEMON_KEYS), key) != NULL)
    return located_error(err, source, group, key, "unknown key here; it belongs in [daemon]");
  return located_error(err, source, group, key,
                       "unknown key (see docs/configuration.md for the keys of each section)");
}

static bool appears_twice(char **keys, gsize nkeys, gsize i) {
  for (gsize j = 0; j < nkeys; j++)
    if (j != i && strcmp(keys[j], keys[i]) == 0)
      return true;
  return false;
}

static int parse_key(GKeyFile *kf, const char *source, const char *group, const char *key,
                     const key_spec *spec, void *base, hb_error *err) {
  GError *gerr = NULL;
  char *value = g_key_file_get_string(kf, group, key, &gerr);
  if (gerr != NULL) {
    /* GLib's own messages quote the raw bytes (invalid UTF-8 in a log line) or say only that
     * the value "cannot be interpreted". */
    bool encoding = g_error_matches(gerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_UNKNOWN_ENCODING);
    g_error_free(gerr);
    g_free(value);
    if (encoding)
      return located_error(err, source, group, key, "the value is not valid UTF-8");
    return located_error(err, source, group, key,
                         "the value has an invalid backslash escape; "
                         "allowed escapes: \\\\ \\s \\n \\t \\r");
  }
  g_strstrip(value); /* whitespace around a value is invisible in the file: never meaningful */
  char why[CONFIG_WHY_SIZE];
  int rc = 0;
  if (!set_value(spec, value, base, why, sizeof why))
    rc = located_error(err, source, group, key, "%s%s", why,
                       strchr(value, '#') == NULL ? ""
                                                  : " (a # comment must be on a line of its own)");
  g_free(value);
  return rc;
}

static int parse_keys(GKeyFile *kf, const char *source, const char *group, const key_spec *specs,
                      size_t nspecs, void *base, hb_error *err) {
  gsize nkeys = 0;
  char **keys = g_key_file_get_keys(kf, group, &nkeys, NULL);
  int rc = 0;
  for (gsize i = 0; i < nkeys && rc == 0; i++) {
    const key_spec *spec = find_key(specs, nspecs, keys[i]);
    if (spec == NULL)
      rc = unknown_key(source, group, keys[i], specs, err);
    else if (appears_twice(keys, nkeys, i))
      rc = located_error(err, source, group, keys[i], "set twice in this section; set it once");
    else
      rc = parse_key(kf, source, group, keys[i], spec, base, err);
  }
  g_strfreev(keys);
  return rc;
}

/* NAME of [gateway NAME], "main" for [gateway], NULL for a section that is not a gateway. */
static const char *gateway_name(const char *group) {
  static const char prefix[] = "gateway";
  if (strncmp(group, prefix, sizeof prefix - 1) != 0)
    return NULL;
  const char *p = group + sizeof prefix - 1;
  if (*p == '\0')
    return "main";
  if (*p != ' ' && *p != '\t')
    return NULL;
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

static int check_gateway(const char *source, const char *group, const config_gateway *g,
                         hb_error *err) {
  if (g->reconnect_min_ms > g->reconnect_max_ms)
    return located_error(err, source, group, "reconnect_min_ms",
                         "%d is greater than reconnect_max_ms (%d); allowed at most "
                         "reconnect_max_ms",
                         g->reconnect_min_ms, g->reconnect_max_ms);
  return 0;
}

/* Fills c->gateways[index] (already allocated, zeroed) from section group. */
static int parse_gateway(GKeyFile *kf, const char *source, const char *group, config *c,
                         size_t index, hb_error *err) {
  const char *name = gateway_name(group);
  char why[CONFIG_WHY_SIZE];
  if (!check_gateway_name(name, why, sizeof why))
    return located_error(err, source, group, NULL, "%s", why);
  for (size_t i = 0; i < index; i++)
    if (strcmp(c->gateways[i].name, name) == 0)
      return located_error(err, source, group, NULL,
                           "gateway name \"%s\" is used by two sections%s; give each gateway a "
                           "name of its own",
                           name, strcmp(name, "main") == 0 ? " ([gateway] is named \"main\")" : "");
  config_gateway *g = &c->gateways[index];
  gateway_defaults(g, name);
  if (parse_keys(kf, source, group, GATEWAY_KEYS, NKEYS(GATEWAY_KEYS), g, err) < 0)
    return -1;
  return check_gateway(source, group, g, err);
}

static size_t count_gateways(char **groups, gsize ngroups) {
  size_t n = 0;
  for (gsize i = 0; i < ngroups; i++)
    if (gateway_name(groups[i]) != NULL)
      n++;
  return n;
}

/* The file's gateway sections replace the default "main" gateway; config_free copes with the
 * zeroed entries that a failure leaves behind. */
static void replace_gateways(config *c, size_t n) {
  for (size_t i = 0; i < c->ngateways; i++)
    gateway_free(&c->gateways[i]);
  free(c->gateways);
  c->gateways = xcalloc(n, sizeof *c->gateways);
  c->ngateways = n;
}

/* ---- [access] ------------------------------------------------------------------------------ */

/* A uid or gid: digits only, below (unsigned)-1, which the kernel uses for "none". */
static bool parse_id(const char *s, unsigned *id) {
  long long v;
  if (parse_integer(s, 10, &v) < 0 || v < 0 || v >= UINT32_MAX)
    return false;
  *id = (unsigned)v;
  return true;
}

/* One lookup into buf; its errno-style result (ERANGE: buf is too small for the entry). */
static int lookup_in(bool group, const char *name, char *buf, size_t size, unsigned *id,
                     bool *found) {
  int rc;
  if (group) {
    struct group gr, *g = NULL;
    rc = getgrnam_r(name, &gr, buf, size, &g);
    *found = rc == 0 && g != NULL;
    *id = *found ? (unsigned)g->gr_gid : 0;
  } else {
    struct passwd pw, *p = NULL;
    rc = getpwnam_r(name, &pw, buf, size, &p);
    *found = rc == 0 && p != NULL;
    *id = *found ? (unsigned)p->pw_uid : 0;
  }
  return rc;
}

/* A user or group name, looked up now: rules hold ids, so that checking a client asks nobody.
 * (A lookup may wait on NSS, LDAP say; it happens at start and on SIGHUP only.) A group of many
 * members needs a larger buffer than the usual entry: it grows up to 16 MiB. */
static bool lookup_name(bool group, const char *name, unsigned *id) {
  bool found = false;
  int rc = ERANGE;
  for (size_t size = 16384; rc == ERANGE && size <= ((size_t)16 << 20); size *= 4) {
    char *buf = xmalloc(size);
    rc = lookup_in(group, name, buf, size, id, &found);
    free(buf);
  }
  return found;
}

/* Who a key matches: "*", "tcp", "uid:N", "gid:N", "user:NAME" or "group:NAME". */
static bool parse_access_who(const char *key, config_access_rule *r, char *why, size_t why_size) {
  const char *colon = strchr(key, ':');
  if (strcmp(key, "*") == 0) {
    r->who = CONFIG_ACCESS_ANYONE;
    return true;
  }
  if (strcmp(key, "tcp") == 0) {
    r->who = CONFIG_ACCESS_TCP;
    return true;
  }
  size_t kind = colon != NULL ? (size_t)(colon - key) : 0;
  const char *arg = colon != NULL ? colon + 1 : "";
  bool is_uid = kind == 3 && strncmp(key, "uid", 3) == 0;
  bool is_gid = kind == 3 && strncmp(key, "gid", 3) == 0;
  bool is_user = kind == 4 && strncmp(key, "user", 4) == 0;
  bool is_group = kind == 5 && strncmp(key, "group", 5) == 0;
  r->who = is_uid || is_user ? CONFIG_ACCESS_UID : CONFIG_ACCESS_GID;
  if ((is_uid || is_gid) && !parse_id(arg, &r->id))
    return why_fail(why, why_size, "\"%s\" is not a numeric id", arg);
  if ((is_user || is_group) && !lookup_name(is_group, arg, &r->id))
    return why_fail(why, why_size, "no %s named \"%s\" on this host", is_group ? "group" : "user",
                    arg);
  if (!is_uid && !is_gid && !is_user && !is_group)
    return why_fail(why, why_size,
                    "unknown kind of rule; allowed: uid:N, gid:N, user:NAME, group:NAME, tcp, *");
  return true;
}

/* What a value grants: "allow", "read-only" or "deny", then optionally "tables=PREFIX". */
static bool parse_access_grant(const char *value, config_access_rule *r, char *why,
                               size_t why_size) {
  char **words = g_strsplit_set(value, " \t", -1);
  static const char *const verdicts[] = {"deny", "read-only", "allow"};
  bool ok = true;
  int nwords = 0;
  r->verdict = -1;
  for (char **w = words; *w != NULL && ok; w++) {
    if (**w == '\0')
      continue;
    if (nwords++ == 0) {
      for (int i = 0; i < 3; i++)
        r->verdict = strcmp(*w, verdicts[i]) == 0 ? i : r->verdict;
      ok = r->verdict >= 0 ||
        why_fail(why, why_size, "\"%s\" is not a grant; allowed: allow, read-only, deny", *w);
    } else if (nwords == 2 && strncmp(*w, "tables=", 7) == 0 && (*w)[7] != '\0' &&
               r->verdict != CONFIG_ACCESS_DENY) {
      r->tables = xstrdup(*w + 7);
    } else {
      ok = why_fail(why, why_size,
                    "unexpected \"%s\"; allowed after allow or read-only: tables=PREFIX", *w);
    }
  }
  g_strfreev(words);
  if (ok && nwords == 0)
    return why_fail(why, why_size, "empty; allowed: allow, read-only or deny [tables=PREFIX]");
  return ok;
}

static int parse_access(GKeyFile *kf, const char *source, const char *group, config *c,
                        hb_error *err) {
  gsize nkeys = 0;
  char **keys = g_key_file_get_keys(kf, group, &nkeys, NULL);
  c->access_rules = true;
  c->access = xcalloc(nkeys > 0 ? nkeys : 1, sizeof *c->access);
  int rc = 0;
  for (gsize i = 0; i < nkeys && rc == 0; i++) {
    char *value = g_key_file_get_string(kf, group, keys[i], NULL);
    char why[CONFIG_WHY_SIZE];
    config_access_rule *r = &c->access[c->naccess++];
    if (value == NULL)
      rc = located_error(err, source, group, keys[i], "the value is not valid UTF-8");
    else if (appears_twice(keys, nkeys, i))
      rc = located_error(err, source, group, keys[i], "set twice in this section; set it once");
    else if (!parse_access_who(keys[i], r, why, sizeof why) ||
             !parse_access_grant(g_strstrip(value), r, why, sizeof why))
      rc = located_error(err, source, group, keys[i], "%s", why);
    else
      r->text = xasprintf("%s = %s", keys[i], value);
    g_free(value);
  }
  g_strfreev(keys);
  return rc;
}

/* A client throttled by the budget in the middle of a line waits for the total to fall: the budget
 * must leave room for lines being read while others are held. */
static int check_daemon(const char *source, const config *c, hb_error *err) {
  if (c->max_buffered_bytes / 2 < c->max_line_bytes)
    return located_error(err, source, "daemon", "max_buffered_bytes",
                         "%zu is less than twice max_line_bytes (%zu); allowed at least %zu",
                         c->max_buffered_bytes, c->max_line_bytes, 2 * c->max_line_bytes);
  return 0;
}

static int parse_sections(GKeyFile *kf, const char *source, config *c, hb_error *err) {
  gsize ngroups = 0;
  char **groups = g_key_file_get_groups(kf, &ngroups);
  size_t ngw = count_gateways(groups, ngroups);
  if (ngw > 0)
    replace_gateways(c, ngw);
  size_t gi = 0;
  int rc = 0;
  for (gsize i = 0; i < ngroups && rc == 0; i++) {
    if (strcmp(groups[i], "daemon") == 0)
      rc = parse_keys(kf, source, groups[i], DAEMON_KEYS, NKEYS(DAEMON_KEYS), c, err);
    else if (gateway_name(groups[i]) != NULL)
      rc = parse_gateway(kf, source, groups[i], c, gi++, err);
    else if (strcmp(groups[i], "access") == 0)
      rc = parse_access(kf, source, groups[i], c, err);
    else
      rc = located_error(err, source, groups[i], NULL,
                         "unknown section; allowed: [daemon], "
                         "[gateway], [gateway NAME], [access]");
  }
  g_strfreev(groups);
  return rc == 0 ? check_daemon(source, c, err) : rc;
}

/* GKeyFile silently merges a section written twice; refuse it instead, since the second copy is
 * usually a forgotten edit. Runs on text GKeyFile accepted, so every "[" line is a header. */
static int check_duplicate_sections(const char *text, size_t len, const char *source,
                                    hb_error *err) {
  GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  const char *end = text + len;
  int rc = 0;
  for (const char *line = text; line < end && rc == 0;) {
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    const char *next = eol != NULL ? eol + 1 : end;
    while (line < next && g_ascii_isspace(*line))
      line++;
    const char *close = NULL;
    if (line < next && *line == '[')
      close = memchr(line, ']', (size_t)(next - line));
    if (close != NULL) {
      char *name = g_strndup(line + 1, (size_t)(close - line - 1));
      if (!g_hash_table_add(seen, name))
        rc = located_error(err, source, name, NULL, "section appears twice; write it once");
    }
    line = next;
  }
  g_hash_table_destroy(seen);
  return rc;
}

static int parse_text(const char *text, size_t len, const char *source, config *out,
                      hb_error *err) {
  if (memchr(text, '\0', len) != NULL)
    return hb_error_set(err, HB_ERR_INVALID, "%s: contains a NUL byte; a config file is text",
                        source);
  GKeyFile *kf = g_key_file_new();
  GError *gerr = NULL;
  /* KEEP_TRANSLATIONS: without it GKeyFile silently drops "key[locale]" lines; with it they
   * reach the unknown-key check. */
  if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_KEEP_TRANSLATIONS, &gerr)) {
    hb_error_set(err, HB_ERR_INVALID, "%s: %s", source, gerr->message);
    g_error_free(gerr);
    g_key_file_free(kf);
    return -1;
  }
  config tmp;
  config_defaults(&tmp);
  int rc = check_duplicate_sections(text, len, source, err);
  if (rc == 0)
    rc = parse_sections(kf, source, &tmp, err);
  g_key_file_free(kf);
  if (rc < 0) {
    config_free(&tmp);
    return -1;
  }
  *out = tmp;
  return 0;
}

static int read_file(const char *path, char **text, size_t *len, hb_error *err) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return hb_error_set(err, HB_ERR_INVALID, "%s: cannot open: %s", path, strerror(errno));
  char *buf = xcalloc(1, CONFIG_MAX_FILE_BYTES + 1);
  size_t n = fread(buf, 1, CONFIG_MAX_FILE_BYTES + 1, f);
  int rc = 0;
  if (ferror(f))
    rc = hb_error_set(err, HB_ERR_INVALID, "%s: cannot read: %s", path, strerror(errno));
  else if (n > CONFIG_MAX_FILE_BYTES)
    rc = hb_error_set(err, HB_ERR_INVALID, "%s: larger than %d bytes; not a config file?", path,
                      CONFIG_MAX_FILE_BYTES);
  fclose(f);
  if (rc < 0) {
    free(buf);
    return -1;
  }
  *text = buf;
  *len = n;
  return 0;
}

int config_load(const char *path, config *out, hb_error *err) {
  char *text = NULL;
  size_t len = 0;
  if (read_file(path, &text, &len, err) < 0)
    return -1;
  int rc = parse_text(text, len, path, out, err);
  free(text);
  return rc;
}

int config_load_string(const char *text, config *out, hb_error *err) {
  return parse_text(text, strlen(text), CONFIG_STRING_SOURCE, out, err);
}
