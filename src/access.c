/* access: which [access] rule applies to a client, from the credentials of its socket. */
#include "access.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "xmalloc.h"

const config_access_rule access_no_rule = {
  .text = "(no rule matches: denied)",
  .who = CONFIG_ACCESS_ANYONE,
  .verdict = CONFIG_ACCESS_DENY,
};

void access_peer_read(access_peer *p, int fd) {
  memset(p, 0, sizeof *p);
  p->uid = (uid_t)-1; /* matches no rule: the kernel's "no such id" */
  p->gid = (gid_t)-1;
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof ss;
  p->tcp = getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0 || ss.ss_family != AF_UNIX;
  if (p->tcp)
    return;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    p->pid = cred.pid;
    p->uid = cred.uid;
    p->gid = cred.gid;
  }
  /* The groups the process had when it connected (Linux 4.13); more than fit are not read, so
   * a group rule may miss one of those, never match one the process lacks. */
  gid_t groups[ACCESS_MAX_GROUPS];
  len = sizeof groups;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0 || len == 0)
    return;
  p->ngroups = (int)(len / sizeof groups[0]);
  p->groups = xmalloc(len);
  memcpy(p->groups, groups, len);
}

void access_peer_free(access_peer *p) {
  free(p->groups);
  p->groups = NULL;
  p->ngroups = 0;
}

static bool in_group(const access_peer *p, unsigned gid) {
  if (p->gid == (gid_t)gid)
    return true;
  for (int i = 0; i < p->ngroups; i++)
    if (p->groups[i] == (gid_t)gid)
      return true;
  return false;
}

static bool matches(const config_access_rule *r, const access_peer *p) {
  switch (r->who) {
  case CONFIG_ACCESS_ANYONE: return true;
  case CONFIG_ACCESS_TCP: return p->tcp;
  case CONFIG_ACCESS_UID: return !p->tcp && p->uid == (uid_t)r->id;
  case CONFIG_ACCESS_GID: return !p->tcp && in_group(p, r->id);
  }
  return false;
}

const config_access_rule *access_rule_for(const config *cfg, const access_peer *p) {
  if (!cfg->access_rules)
    return NULL;
  for (size_t i = 0; i < cfg->naccess; i++)
    if (matches(&cfg->access[i], p))
      return &cfg->access[i];
  return &access_no_rule;
}

bool access_name_allowed(const char *tables, const void *name, size_t len) {
  size_t n = tables != NULL ? strlen(tables) : 0;
  return n == 0 || (len >= n && memcmp(name, tables, n) == 0);
}

bool access_table_allowed(const config_access_rule *r, const char *table) {
  return r == NULL || access_name_allowed(r->tables, table, strlen(table));
}
