/* access: which [access] rule applies to a client, from the credentials of its socket. */
#ifndef HBPOOL_ACCESS_H
#define HBPOOL_ACCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

/* Supplementary groups looked at, beyond the primary one. */
#define ACCESS_MAX_GROUPS 64

/* Who is at the other end of a client socket, as the kernel saw it when it connected. */
typedef struct access_peer {
  bool tcp; /* a listen_tcp client: no credentials */
  pid_t pid;
  uid_t uid;
  gid_t gid;
  gid_t *groups; /* ngroups of them, malloc'd (NULL for none): kept per client, most have few */
  int ngroups;
} access_peer;

/* Reads the peer's pid, uid, gid (SO_PEERCRED) and groups (SO_PEERGROUPS) off a Unix socket;
 * any other socket is a tcp peer. */
void access_peer_read(access_peer *p, int fd);
/* Frees what access_peer_read allocated. */
void access_peer_free(access_peer *p);

/* The first rule of cfg's [access] that matches the peer; NULL without an [access] section
 * (anything goes). A peer that no rule matches gets access_no_rule, which denies. */
const config_access_rule *access_rule_for(const config *cfg, const access_peer *p);
extern const config_access_rule access_no_rule;

/* The table name (prefix included) is one the rule lets its clients use. */
bool access_table_allowed(const config_access_rule *r, const char *table);
/* The same for a rule's tables (NULL: any) and a name of len bytes, which may hold NUL. */
bool access_name_allowed(const char *tables, const void *name, size_t len);

#endif
